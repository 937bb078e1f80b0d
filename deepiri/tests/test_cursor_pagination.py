"""Cursor pagination on every list (keyset: no duplicates, nothing that survives is missed while
rows come and go), `skip` kept for the web client, cursors validated (400 on garbage), and unknown
query parameters refused with their names."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from accounts.models import User
from gamification.models import LedgerEntry
from notifications.models import Notification
from tasks.models import Task
from tasks.services import create_task

pytestmark = pytest.mark.django_db


def _walk(client, first: str, *, mutate=None, max_pages=100):
    """Follow `pagination.next` from `first`; `mutate(page_number)` runs between pages."""
    seen, url, pages = [], first, 0
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.json()
        body = response.json()
        seen.extend(item["id"] for item in body["data"])
        url = body["pagination"]["next"]
        pages += 1
        assert pages <= max_pages
        if mutate and url:
            mutate(pages)
    return seen


def _tasks(user, n, prefix="t"):
    return [create_task(user, title=f"{prefix}{i}", understand=False).pk for i in range(n)]


def test_a_walk_by_cursor_returns_every_task_once(auth_client, user):
    ids = _tasks(user, 7)
    first = auth_client.get("/api/tasks?limit=3&cursor=").json()["pagination"]
    assert first["hasMore"] is True and first["total"] == 7 and first["skip"] == 0
    assert first["nextCursor"] and "cursor=" in first["next"] and "skip=" not in first["next"]
    seen = _walk(auth_client, "/api/tasks?limit=3&cursor=")
    assert seen == list(reversed(ids))  # newest first, each once


def test_without_a_cursor_next_keeps_offset_links_for_the_web_client(auth_client, user):
    _tasks(user, 5)
    first = auth_client.get("/api/tasks?limit=2").json()["pagination"]
    assert first["next"] == "/api/tasks?limit=2&skip=2" and first["nextCursor"]
    page = auth_client.get("/api/tasks?limit=2&skip=2").json()["pagination"]
    assert page == {
        "total": 5, "limit": 2, "skip": 2, "hasMore": True, "next": "/api/tasks?limit=2&skip=4",
        "nextCursor": page["nextCursor"],
    }
    last = auth_client.get("/api/tasks?limit=2&skip=4").json()["pagination"]
    assert last["next"] is None and last["nextCursor"] is None and last["hasMore"] is False


def test_a_walk_while_tasks_are_added_and_deleted_has_no_duplicates_and_misses_no_survivor(auth_client, user):
    ids = _tasks(user, 12, "old")
    deleted, added = [], []

    def mutate(page):
        if page == 1:
            added.extend(_tasks(user, 3, "new"))  # newer: before the walk's position
            # Two not yet reached, one already returned.
            for pk in (ids[2], ids[5], ids[-1]):
                Task.objects.filter(pk=pk).delete()
                deleted.append(pk)

    seen = _walk(auth_client, "/api/tasks?limit=4&cursor=", mutate=mutate)
    assert len(seen) == len(set(seen)), "a row came twice"
    survivors = set(ids) - set(deleted)
    assert survivors <= set(seen) | {ids[-1]}, "a surviving row was missed"
    assert not (set(seen) & {ids[2], ids[5]}), "a row deleted before it was reached came back"


def test_a_walk_in_a_filtered_and_reordered_list_by_an_expression(auth_client, user):
    for i, priority in enumerate(["low", "urgent", "medium", "high", "low", "urgent", "medium"]):
        create_task(user, title=f"p{i}", priority=priority, understand=False)
    expected = [t["id"] for t in auth_client.get("/api/tasks?ordering=-priority&limit=100").json()["data"]]
    seen = _walk(auth_client, "/api/tasks?ordering=-priority&limit=2&cursor=")
    assert seen == expected
    first = auth_client.get("/api/tasks?ordering=-priority&limit=2").json()["pagination"]["nextCursor"]
    # A cursor of another ordering is refused rather than followed into the wrong place.
    other = auth_client.get(f"/api/tasks?ordering=title&limit=2&cursor={first}")
    assert other.status_code == 400 and "cursor" in other.json()["errors"]


def test_cursor_page_answer(auth_client, user):
    _tasks(user, 5)
    cursor = auth_client.get("/api/tasks?limit=2").json()["pagination"]["nextCursor"]
    page = auth_client.get(f"/api/tasks?limit=2&cursor={cursor}").json()["pagination"]
    assert "skip" not in page and page["total"] == 5 and page["hasMore"] is True
    query = parse_qs(urlsplit(page["next"]).query)
    assert set(query) == {"cursor", "limit"}
    assert auth_client.get("/api/tasks?limit=2&cursor=").status_code == 200  # empty: a walk starts


@pytest.mark.parametrize(
    "cursor",
    ["garbage", "eyJrIjpbXX0:1abc:def", "A" * 3000, "%00", "..", "e30"],
)
def test_garbage_cursors_are_a_400_on_cursor(auth_client, user, cursor):
    _tasks(user, 2)
    response = auth_client.get("/api/tasks", {"cursor": cursor})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error" and list(body["errors"]) == ["cursor"]


def test_a_tampered_or_foreign_cursor_is_refused(auth_client, user):
    _tasks(user, 3)
    cursor = auth_client.get("/api/tasks?limit=1").json()["pagination"]["nextCursor"]
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    assert auth_client.get(f"/api/tasks?limit=1&cursor={tampered}").status_code == 400
    # A cursor is bound to its list: the challenges list does not take a task cursor.
    assert auth_client.get(f"/api/challenges?limit=1&cursor={cursor}").status_code == 400
    both = auth_client.get(f"/api/tasks?limit=1&cursor={cursor}&skip=1")
    assert both.status_code == 400 and "skip" in both.json()["errors"]


def test_a_cursor_does_not_open_another_users_rows(auth_client, other_client, user, other_user):
    _tasks(user, 3)
    _tasks(other_user, 3, "theirs")
    cursor = other_client.get("/api/tasks?limit=1").json()["pagination"]["nextCursor"]
    seen = _walk(auth_client, f"/api/tasks?limit=1&cursor={cursor}")
    assert set(seen) <= set(Task.objects.filter(user=user).values_list("pk", flat=True))


def test_other_lists_walk_by_cursor(auth_client, user, make_user):
    for i in range(5):
        Notification.objects.create(user=user, type="system", title=f"n{i}")
    assert len(_walk(auth_client, "/api/notifications?limit=2&cursor=")) == 5
    for i in range(5):
        LedgerEntry.objects.create(
            user=user, points=i + 1, xp=i + 1, reason="test", source="admin", idempotency_key=f"walk-{i}",
            occurred_at=timezone.now(),
        )
    assert len(_walk(auth_client, "/api/gamification/history?limit=2&cursor=")) == 5
    for i in range(4):
        make_user(email=f"ada{i}@example.com", name=f"Adams {i}")
    searched = _walk(auth_client, "/api/users/search?query=Adams&limit=3&cursor=")
    assert len(searched) == 4 == len(set(searched))
    badges = auth_client.get("/api/gamification/badges?limit=2").json()
    assert badges["pagination"]["nextCursor"]
    walked = _walk(auth_client, "/api/gamification/badges?limit=2&cursor=")
    assert len(walked) == badges["pagination"]["total"] == len(set(walked))
    assert auth_client.get("/api/gamification/badges?cursor=junk").status_code == 400


@pytest.mark.parametrize(
    "path",
    [
        "/api/tasks?page=2",
        "/api/tasks?limit=2&sort=title&fields=id",
        "/api/tasks/000000000000000000000000?expand=1",
        "/api/notifications?unreadonly=true",
        "/api/challenges?cursor=&taskid=1",
        "/api/users/profile?x=1",
        "/api/gamification/leaderboard?page=1",
        "/api/integrations/providers?all=1",
    ],
)
def test_unknown_query_parameters_are_refused_with_their_names(auth_client, path):
    response = auth_client.get(path)
    assert response.status_code == 400, response.content
    body = response.json()
    names = set(parse_qs(urlsplit(path).query, keep_blank_values=True)) - {"limit", "cursor"}
    assert body["code"] == "validation_error"
    assert set(body["errors"]) == names
    assert set(body["errorCodes"]) == names and {c for v in body["errorCodes"].values() for c in v} == {
        "unknown_parameter"
    }
    assert all(name in body["message"] for name in names)


@pytest.mark.parametrize(
    "path",
    [
        "/api/tasks?status=pending&priority=high&type=manual&ordering=-createdAt&limit=2&skip=0",
        "/api/challenges?status=pending&taskId=000000000000000000000000&cursor=",
        "/api/notifications?unreadOnly=true&type=system&limit=2",
        "/api/gamification/leaderboard?period=all&scope=global&limit=2&skip=0",
        "/api/users/search?query=ab&limit=2",
        "/api/integrations/providers?limit=2",
        "/api/schema?format=json",
    ],
)
def test_declared_parameters_filters_and_paging_are_accepted(auth_client, path):
    assert auth_client.get(path).status_code == 200, auth_client.get(path).content


def test_accepted_parameters_come_from_the_view(user):
    from kernel.api.query_params import accepted_query_params  # noqa: PLC0415 - the test's subject
    from notifications.views import NotificationListView  # noqa: PLC0415
    from tasks.views import TaskViewSet  # noqa: PLC0415

    listed = accepted_query_params(TaskViewSet, {"basename": "task"}, "GET", "list")
    assert {"limit", "skip", "cursor", "status", "priority", "ordering"} <= listed
    assert accepted_query_params(TaskViewSet, {}, "GET", "retrieve") == frozenset()
    assert {"unreadOnly", "since", "type", "limit", "skip", "cursor"} <= accepted_query_params(
        NotificationListView, {}, "GET", None
    )
    assert User.objects.filter(pk=user.pk).exists()


@pytest.mark.parametrize("path", ["/api/tasks", "/api/notifications", "/api/gamification/history"])
def test_a_page_by_cursor_costs_the_same_queries_at_two_page_sizes(auth_client, user, path):
    _tasks(user, 12)
    for i in range(12):
        Notification.objects.create(user=user, type="system", title=f"n{i}")
        LedgerEntry.objects.create(
            user=user, points=1, xp=1, reason="test", source="admin", idempotency_key=f"count-{i}",
            occurred_at=timezone.now(),
        )
    auth_client.get(path)  # the signed-in user is in the auth cache from here on
    cursors = {}
    for limit in (2, 5):
        cursors[limit] = auth_client.get(f"{path}?limit={limit}&cursor=").json()["pagination"]["nextCursor"]
    counts = []
    for limit in (2, 5):
        from django.db import connection  # noqa: PLC0415 - the test's own probe
        from django.test.utils import CaptureQueriesContext  # noqa: PLC0415

        with CaptureQueriesContext(connection) as queries:
            page = auth_client.get(f"{path}?limit={limit}&cursor={cursors[limit]}")
        assert page.status_code == 200 and len(page.json()["data"]) == limit
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
