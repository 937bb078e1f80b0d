"""Every admin action that reads, mails or changes what another account owns is rank-checked:
a lower role (or a peer) selecting a higher account gets a message and nothing is exported,
sent, deleted, awarded or revoked. Driven as the attacker would: a signed-in session posting the
changelist action."""

# ruff: noqa: F811  (fixtures are imported from devtools.testing and named as parameters)
from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.core import mail
from django.urls import reverse

from accounts.models import User
from devtools.testing.admin import (  # noqa: F401  (fixtures)
    action,
    admin_user,
    client_as,
    make_role_user,
    moderator,
    plain_user,
    staff_member,
)
from gamification.models import Badge, UserBadge
from integrations.models import Connection
from kernel import roles
from tasks import services as task_services
from tasks.models import Task

pytestmark = pytest.mark.django_db

USERS = reverse("admin:accounts_user_changelist")


@pytest.fixture
def superuser(db, password):
    return User.objects.create_superuser(email="root@example.com", password=password, name="Root")


def _messages(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def higher(make_role_user, superuser):
    """The accounts a staff member must not reach, by name."""
    return {"superuser": superuser, "admin": make_role_user(roles.ADMIN), "staff-peer": make_role_user(roles.STAFF)}


@pytest.mark.parametrize("target", ["superuser", "admin", "staff-peer"])
def test_staff_cannot_export_a_higher_or_equal_accounts_data(client_as, staff_member, higher, target):
    victim = higher[target]
    response = action(client_as(staff_member), USERS, "export_data", [victim.pk])
    assert response.status_code == 302  # back to the list, no download
    assert response.get("Content-Type") != "application/json"
    assert "Content-Disposition" not in response
    assert any(victim.email in m and "higher role" in m for m in _messages(response))


def test_a_selection_with_one_higher_account_exports_nothing(client_as, staff_member, plain_user, higher):
    response = action(client_as(staff_member), USERS, "export_data", [plain_user.pk, higher["admin"].pk])
    assert "Content-Disposition" not in response
    assert "Nothing was exported." in _messages(response)


def test_staff_exports_a_lower_account_and_their_own(client_as, staff_member, plain_user, moderator):
    for target in (plain_user, moderator, staff_member):
        response = action(client_as(staff_member), USERS, "export_data", [target.pk])
        assert response["Content-Type"] == "application/json", target.email


def test_admin_cannot_export_a_superuser(client_as, admin_user, superuser):
    response = action(client_as(admin_user), USERS, "export_data", [superuser.pk])
    assert "Content-Disposition" not in response


@pytest.mark.parametrize("target", ["superuser", "admin", "staff-peer"])
def test_staff_cannot_mail_reset_links_to_higher_or_equal_accounts(client_as, staff_member, plain_user, higher, target):
    victim = higher[target]
    response = action(client_as(staff_member), USERS, "send_password_reset", [victim.pk, plain_user.pk])
    assert [m.to for m in mail.outbox] == [[plain_user.email]]  # the lower account only
    assert any(victim.email in m for m in _messages(response))
    assert "Sent 1 password reset email(s)." in _messages(response)


def test_admin_cannot_delete_another_admins_tasks(client_as, admin_user, make_role_user, plain_user):
    other_admin = make_role_user(roles.ADMIN)
    theirs = task_services.create_task(other_admin, title="Board notes", understand=False)
    lower = task_services.create_task(plain_user, title="Plain notes", understand=False)
    response = action(client_as(admin_user), reverse("admin:tasks_task_changelist"), "delete_tasks", [theirs.pk, lower.pk])
    assert Task.objects.filter(pk=theirs.pk).exists()
    assert not Task.objects.filter(pk=lower.pk).exists()
    assert any(other_admin.email in m for m in _messages(response))


def test_staff_cannot_disconnect_an_admins_integration(client_as, staff_member, make_role_user):
    owner = make_role_user(roles.ADMIN)
    conn = Connection.objects.create(user=owner, service="notion", access_token_enc="x", refresh_token_enc="y")
    response = action(client_as(staff_member), reverse("admin:integrations_connection_changelist"), "disconnect", [conn.pk])
    conn.refresh_from_db()
    assert (conn.status, conn.access_token_enc) == ("connected", "x")
    assert any(owner.email in m for m in _messages(response))


def _badge():
    return Badge.objects.create(
        slug="rank-check", name="Rank Check", icon="*", description="d", category="special", rarity="rare",
        criteria={"type": "threshold", "metric": "points", "value": 10_000_000}, points=50,
    )


def test_moderator_cannot_award_or_revoke_badges_of_higher_accounts(client_as, moderator, staff_member, plain_user):
    from gamification import services

    badge = _badge()
    badges = reverse("admin:gamification_badge_changelist")
    client = client_as(moderator)
    action(client, badges, "award_to_users", [badge.pk], apply="1", users=f"{staff_member.email}\n{plain_user.email}")
    holders = set(UserBadge.objects.filter(badge=badge).values_list("user_id", flat=True))
    assert holders == {plain_user.pk}

    held, _ = services.grant_badge(staff_member, badge)
    action(client, badges, "revoke_from_users", [badge.pk], apply="1", users=staff_member.email, reason="because")
    held.refresh_from_db()
    assert held.revoked_at is None
    action(client, reverse("admin:gamification_userbadge_changelist"), "revoke", [held.pk])
    held.refresh_from_db()
    assert held.revoked_at is None
