"""The notifications admin and the announcement form."""

# ruff: noqa: F811  (fixtures are imported from devtools.testing and named as parameters)
from __future__ import annotations

import pytest
from django.urls import reverse

from devtools.testing.admin import (  # noqa: F401
    admin_user,
    capture_user_events,
    client_as,
    make_role_user,
    moderator,
    plain_user,
    staff_member,
)
from devtools.testing.celery import eager_celery  # noqa: F401  (autouse: the job runs inline)
from kernel import roles
from notifications.models import Notification

pytestmark = pytest.mark.django_db

ANNOUNCE = reverse("admin:notifications_notification_announce")
CHANGELIST = reverse("admin:notifications_notification_changelist")


def form_data(**overrides):
    data = {
        "title": "Maintenance tonight",
        "message": "Deepiri will be down 22:00-22:15 UTC.",
        "priority": "high",
        "audience": "all",
        "role": "",
        "emails": "",
        "joined_after": "",
        "active_within_days": "",
        "_send": "Send announcement",
    }
    data.update(overrides)
    return data


def test_announcement_to_everyone_is_stored_and_delivered_live(
    client_as, staff_member, make_role_user, django_capture_on_commit_callbacks
):
    alice = make_role_user(email="alice-a@example.com")
    bob = make_role_user(email="bob-b@example.com")
    gone = make_role_user(email="gone@example.com", is_active=False)
    client = client_as(staff_member)

    def announce():
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(ANNOUNCE, form_data())

    response, events = capture_user_events(alice, announce)
    assert response.status_code == 302

    for user in (alice, bob, staff_member):
        note = Notification.objects.get(user=user)
        assert (note.type, note.title, note.priority) == ("system", "Maintenance tonight", "high")
        assert note.pushed_at is not None
    assert not Notification.objects.filter(user=gone).exists()

    assert [e["type"] for e in events] == ["notification"]
    assert events[0]["notification"]["title"] == "Maintenance tonight"
    assert events[0]["id"] >= 1


@pytest.mark.services
def test_an_announcement_sent_while_the_broker_is_down_waits_in_the_outbox(
    client_as, staff_member, make_role_user, private_broker, django_capture_on_commit_callbacks
):
    """The staff member gets the usual answer, not an error page; the job is kept and sent later."""
    from kernel import jobs
    from kernel.models import OutboxJob

    make_role_user(email="erin-e@example.com")
    private_broker.kill()
    with django_capture_on_commit_callbacks(execute=True):
        response = client_as(staff_member).post(ANNOUNCE, form_data(title="While down"))
    assert response.status_code == 302
    kept = OutboxJob.objects.get()
    assert kept.task == "admin.announce" and kept.args[2] == "While down"
    private_broker.restart()
    assert jobs.drain_outbox()["published"] == 1


def test_announcement_to_a_role_and_to_emails(
    client_as, staff_member, make_role_user, django_capture_on_commit_callbacks
):
    mod = make_role_user(roles.MODERATOR, email="mod-x@example.com")
    carol = make_role_user(email="carol-c@example.com")
    dave = make_role_user(email="dave-d@example.com")
    client = client_as(staff_member)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(ANNOUNCE, form_data(audience="role", role="moderator", title="For moderators"))
    assert list(Notification.objects.values_list("user_id", flat=True)) == [mod.pk]

    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            ANNOUNCE, form_data(audience="emails", emails="Carol-C@example.com,\n dave-d@example.com", title="Hi")
        )
    assert set(Notification.objects.filter(title="Hi").values_list("user_id", flat=True)) == {carol.pk, dave.pk}


def test_announcement_form_errors(client_as, staff_member):
    client = client_as(staff_member)
    for data, field_text in [
        (form_data(title=""), "This field is required"),
        (form_data(audience="role", role=""), "Choose the role"),
        (form_data(audience="emails", emails="not-an-email"), "Not valid email"),
        (form_data(audience="emails", emails="nobody@example.com"), "No account with"),
        (form_data(priority="extreme"), "Select a valid choice"),
        (form_data(audience="all", joined_after="2999-01-01"), "No active user matches"),
        (form_data(message="x" * 2001), "at most 2000"),
    ]:
        response = client.post(ANNOUNCE, data)
        assert response.status_code == 200
        assert field_text in response.content.decode()
    assert Notification.objects.count() == 0


def test_preview_counts_without_sending(client_as, staff_member, make_role_user):
    make_role_user()
    data = form_data()
    del data["_send"]
    data["_preview"] = "Count recipients"
    response = client_as(staff_member).post(ANNOUNCE, data)
    assert response.status_code == 200
    assert 'id="recipient-count">2<' in response.content.decode()
    assert Notification.objects.count() == 0


def test_announcement_permissions(client_as, moderator, plain_user, staff_member, admin_user):
    assert client_as(moderator).get(ANNOUNCE).status_code == 403
    assert client_as(moderator).post(ANNOUNCE, form_data()).status_code == 403
    assert client_as(plain_user).get(ANNOUNCE).status_code == 302  # to the login page
    assert Notification.objects.count() == 0
    assert "send-announcement" in client_as(staff_member).get(CHANGELIST).content.decode()
    assert client_as(admin_user).get(ANNOUNCE).status_code == 200


def test_notifications_list_is_read_only_and_constant_queries(client_as, staff_member, make_role_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from notifications.services import notify

    client = client_as(staff_member)

    def seed(n):
        for _ in range(n):
            notify(make_role_user(), "system", "Hello", "there")

    seed(2)
    client.get(CHANGELIST)
    with CaptureQueriesContext(connection) as small:
        assert client.get(CHANGELIST).status_code == 200
    seed(10)
    with CaptureQueriesContext(connection) as large:
        assert client.get(CHANGELIST).status_code == 200
    assert len(small.captured_queries) == len(large.captured_queries)
    note = Notification.objects.first()
    assert client.get(reverse("admin:notifications_notification_add")).status_code == 403
    response = client.post(reverse("admin:notifications_notification_change", args=[note.pk]), {"title": "edited"})
    assert response.status_code == 403
