"""The tasks and challenges admin, and the dashboard on the admin index.

Challenges are generated through the real services: the AI ones against the fake AI service (a
real HTTP server on 127.0.0.1), the others by the fallback generator.
"""

# ruff: noqa: F811  (fixtures are imported and named as parameters)
from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from challenges import services as challenge_services
from challenges.models import Challenge
from challenges.tests.conftest import cyrex  # noqa: F401
from devtools.testing.admin import action, admin_user, client_as, make_role_user, moderator, staff_member  # noqa: F401
from devtools.testing.celery import eager_celery  # noqa: F401
from integrations.models import Connection, SyncRun
from kernel import roles
from kernel.admin import dashboard_stats
from tasks import services as task_services
from tasks.models import Task
from tasks.serializers import task_to_dict

pytestmark = pytest.mark.django_db

CHALLENGES = reverse("admin:challenges_challenge_changelist")
TASKS = reverse("admin:tasks_task_changelist")


def new_task(user, title="Write the report", **fields):
    return task_services.create_task(user, title=title, understand=False, **fields)


def generate(user, task, capture, **kwargs) -> Challenge:
    with capture(execute=True):
        challenge = challenge_services.request_generation(user, task, **kwargs)
    return Challenge.objects.get(pk=challenge.pk)


def rows(response) -> int:
    return len(re.findall(r'<tr[^>]*>\s*<td class="action-checkbox">', response.content.decode()))


# --- challenges --------------------------------------------------------------------------------


def test_challenge_filters_search_and_read_only_ai_metadata(
    client_as, moderator, make_role_user, settings, cyrex, django_capture_on_commit_callbacks
):
    alice = make_role_user(email="alice-c@example.com")
    bob = make_role_user(email="bob-c@example.com")
    ai = generate(alice, new_task(alice, "Study chapter 3"), django_capture_on_commit_callbacks, difficulty="hard")
    settings.AI_SERVICE_URL = ""
    fallback = generate(bob, new_task(bob, "Fix the login bug"), django_capture_on_commit_callbacks)
    assert (ai.ai_source, fallback.ai_source) == ("ai", "fallback")

    client = client_as(moderator)
    assert rows(client.get(CHALLENGES)) == 2
    only_fallback = client.get(CHALLENGES, {"ai_source": "fallback"})
    assert rows(only_fallback) == 1
    assert fallback.title in only_fallback.content.decode()
    assert rows(client.get(CHALLENGES, {"difficulty__exact": "hard"})) == 1
    assert rows(client.get(CHALLENGES, {"status__exact": "pending"})) == 2
    assert rows(client.get(CHALLENGES, {"type__exact": fallback.type})) >= 1
    by_user = client.get(CHALLENGES, {"q": "alice-c@"})
    assert rows(by_user) == 1
    assert ai.title in by_user.content.decode()

    page = client.get(reverse("admin:challenges_challenge_change", args=[ai.pk])).content.decode()
    assert "AI metadata" in page
    assert 'name="ai_source"' not in page  # read-only
    client.post(reverse("admin:challenges_challenge_change", args=[ai.pk]), {"ai_source": "fallback", "title": "x"})
    ai.refresh_from_db()
    assert ai.ai_source == "ai"


def test_expire_action(client_as, staff_member, make_role_user, django_capture_on_commit_callbacks):
    user = make_role_user()
    active = generate(user, new_task(user), django_capture_on_commit_callbacks)
    challenge_services.start_challenge(user, active)
    done = generate(user, new_task(user, "Another"), django_capture_on_commit_callbacks)
    Challenge.objects.filter(pk=done.pk).update(status="completed", completed_at=timezone.now())

    response = action(client_as(staff_member), CHALLENGES, "expire", [active.pk, done.pk])
    assert response.status_code == 302
    active.refresh_from_db()
    done.refresh_from_db()
    assert active.status == "expired"
    assert done.status == "completed"
    messages_ = [m.message for m in response.wsgi_request._messages]
    assert "Expired 1 challenge(s)." in messages_
    # the user's API sees it expired
    assert challenge_services.Challenge.objects.get(pk=active.pk).status == "expired"


def test_regenerate_queues_a_new_challenge(client_as, moderator, make_role_user, django_capture_on_commit_callbacks):
    user = make_role_user()
    task = new_task(user, "Learn SQL joins")
    old = generate(user, task, django_capture_on_commit_callbacks, type="quiz", difficulty="easy")
    with django_capture_on_commit_callbacks(execute=True):
        response = action(client_as(moderator), CHALLENGES, "regenerate", [old.pk])
    assert response.status_code == 302
    old.refresh_from_db()
    assert old.status == "expired"
    new = Challenge.objects.exclude(pk=old.pk).get(task=task)
    assert new.status == "pending"  # generated by the (inline) worker
    assert (new.type, new.difficulty) == ("quiz", "easy")
    assert task_to_dict(task)["challengeId"] == new.pk


def test_plain_user_and_staff_boundaries_on_content(client_as, make_role_user, staff_member, admin_user):
    user = make_role_user()
    task = new_task(user)
    plain = client_as(user)
    assert plain.get(CHALLENGES).status_code == 302
    assert plain.get(TASKS).status_code == 302
    # deleting tasks is for admins: staff do not even get the action
    staff = client_as(staff_member)
    assert "delete_tasks" not in staff.get(TASKS).content.decode()
    action(staff, TASKS, "delete_tasks", [task.pk])
    assert Task.objects.filter(pk=task.pk).exists()
    action(client_as(admin_user), TASKS, "delete_tasks", [task.pk])
    assert not Task.objects.filter(pk=task.pk).exists()


# --- tasks -------------------------------------------------------------------------------------


def test_task_filters_search_and_generate(client_as, staff_member, make_role_user, django_capture_on_commit_callbacks):
    user = make_role_user(email="tasker@example.com")
    urgent = new_task(user, "Urgent fix", priority="urgent")
    new_task(user, "Someday maybe", priority="low")
    task_services.complete_task(user, urgent)
    client = client_as(staff_member)
    assert rows(client.get(TASKS, {"priority__exact": "urgent"})) == 1
    assert rows(client.get(TASKS, {"status__exact": "completed"})) == 1
    assert rows(client.get(TASKS, {"q": "someday"})) == 1
    assert rows(client.get(TASKS, {"q": "tasker@"})) == 2
    someday = Task.objects.get(user=user, title="Someday maybe")
    with django_capture_on_commit_callbacks(execute=True):
        action(client, TASKS, "generate_challenge", [urgent.pk, someday.pk])
    assert not Challenge.objects.filter(task=urgent).exists()  # completed: skipped, never generated
    challenge = Challenge.objects.get(task=someday)
    assert challenge.status == "pending"
    assert challenge.ai_source == "fallback"


@pytest.mark.parametrize("url", [TASKS, CHALLENGES])
def test_content_lists_run_constant_queries(
    client_as, staff_member, make_role_user, url, django_capture_on_commit_callbacks
):
    client = client_as(staff_member)

    def seed(n):
        for _ in range(n):
            user = make_role_user()
            generate(user, new_task(user), django_capture_on_commit_callbacks)

    seed(2)
    client.get(url)
    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200
    seed(7)
    with CaptureQueriesContext(connection) as large:
        assert client.get(url).status_code == 200
    assert len(small.captured_queries) == len(large.captured_queries)


# --- dashboard ---------------------------------------------------------------------------------


def test_dashboard_figures(
    client_as, staff_member, make_role_user, settings, cyrex, django_capture_on_commit_callbacks
):
    now = timezone.now()
    worker = make_role_user(email="worker@example.com")
    make_role_user(email="idle@example.com", is_active=False)
    done = new_task(worker, "Done today")
    task_services.complete_task(worker, done)
    old = new_task(worker, "Done long ago")
    task_services.complete_task(worker, old, completed_at=now - timedelta(days=3))
    generate(worker, new_task(worker, "Study for the exam"), django_capture_on_commit_callbacks)  # AI
    settings.AI_SERVICE_URL = ""
    for title in ("Write notes", "Plan the week", "Draft the memo"):
        generate(worker, new_task(worker, title), django_capture_on_commit_callbacks)  # fallback
    connection_ = Connection.objects.create(user=worker, service="github", status="error")
    for hours, status in ((1, "failed"), (2, "failed"), (30, "failed"), (1, "succeeded")):
        SyncRun.objects.create(
            connection=connection_, user=worker, status=status, started_at=now - timedelta(hours=hours)
        )

    stats = dashboard_stats()
    # the worker completed a task today; nobody has signed in yet
    assert stats["users"] == {"total": 3, "active": 2, "joined_today": 3, "active_today": 1}
    assert stats["tasks_completed_today"] == 1
    assert stats["challenges_today"] == {"generated": 4, "fallback": 3, "fallback_share": 75}
    assert stats["failed_syncs_24h"] == 2

    client = client_as(staff_member)  # force_login sets last_login: staff is now active today
    page = client.get(reverse("admin:index")).content.decode()
    figures = dict(re.findall(r'data-stat="([a-z-]+)">\s*<h3>[^<]*</h3>\s*<div class="figure">([^<]*)</div>', page))
    assert figures == {
        "users": "3",
        "active-today": "2",
        "tasks-completed-today": "1",
        "challenges-today": "4",
        "failed-syncs": "2",
        "reminders": "0",
    }
    assert "75% by the fallback generator (3)" in page
    assert "web push off (no VAPID keys)" in page
    # each figure links to its changelist, filtered to exactly the rows it counts
    links = dict(re.findall(r'<a class="card[^"]*" href="([^"]+)" title="[^"]*" data-stat="([a-z-]+)">', page))
    links = {stat: html.unescape(href) for href, stat in links.items()}
    assert set(links) == set(figures) - {"reminders"}  # a state, not a list to open
    for stat, href in links.items():
        listing = client.get(href)
        assert listing.status_code == 200, (stat, href)
        body = listing.content.decode()
        rows = body.split('id="result_list"')[1].split("</table>")[0].count("<tr") - 1 if 'id="result_list"' in body else 0
        assert rows == int(figures[stat]), (stat, href, rows)


def test_dashboard_query_count_is_constant(client_as, staff_member, make_role_user):
    client = client_as(staff_member)
    client.get(reverse("admin:index"))
    with CaptureQueriesContext(connection) as small:
        client.get(reverse("admin:index"))
    for _ in range(10):
        user = make_role_user(roles.MODERATOR)
        task_services.complete_task(user, new_task(user))
    with CaptureQueriesContext(connection) as large:
        client.get(reverse("admin:index"))
    assert len(small.captured_queries) == len(large.captured_queries)


def test_dashboard_is_shared_for_thirty_seconds(client_as, staff_member, make_role_user):
    from django.core.cache import cache

    client = client_as(staff_member)
    first = client.get(reverse("admin:index")).content.decode()
    assert 'data-stat="users">\n    <h3>Users</h3>\n    <div class="figure">1<' in first
    make_role_user()
    cached = client.get(reverse("admin:index")).content.decode()
    assert 'data-stat="users">\n    <h3>Users</h3>\n    <div class="figure">1<' in cached
    cache.delete("admin:dashboard")  # what 30 seconds do
    fresh = client.get(reverse("admin:index")).content.decode()
    assert 'data-stat="users">\n    <h3>Users</h3>\n    <div class="figure">2<' in fresh


def test_user_page_shows_this_weeks_analytics(
    client_as, staff_member, make_role_user, django_capture_on_commit_callbacks
):
    user = make_role_user()
    with django_capture_on_commit_callbacks(execute=True):
        task_services.complete_task(user, new_task(user, "Counted by analytics"))
    page = client_as(staff_member).get(reverse("admin:accounts_user_change", args=[user.pk])).content.decode()
    assert "1 tasks completed, 1 created" in page
