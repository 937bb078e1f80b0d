"""`GET /api/sync`: exact changes between cursors, tombstones, paging, out-of-order commits,
isolation between users, bad and expired cursors, constant queries per page.

Transactional tests: a cursor is a database snapshot, and a change is seen only once its
transaction committed (a test wrapped in one transaction would see nothing)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core import signing
from django.db import close_old_connections, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from challenges.models import Challenge
from integrations.sync import services as sync_services
from integrations.sync.models import SyncChange
from notifications.models import Notification
from tasks.models import Task

pytestmark = pytest.mark.django_db(transaction=True)


def _sync(client, cursor=None, limit=None, status=200):
    params = {}
    if cursor is not None:
        params["cursor"] = cursor
    if limit is not None:
        params["limit"] = limit
    response = client.get("/api/sync", params)
    assert response.status_code == status, response.content
    return response.json()["data"] if status == 200 else response.json()


def _walk(client, cursor=None, limit=None):
    """All pages of one walk: (entries, final cursor, pages)."""
    entries, pages = [], 0
    while True:
        page = _sync(client, cursor, limit)
        pages += 1
        entries += page["changes"]
        cursor = page["cursor"]
        if not page["hasMore"]:
            return entries, cursor, pages


def _keys(entries):
    return {(e["type"], e["id"], e["deleted"]) for e in entries}


def test_full_state_then_exact_changes_and_tombstones(auth_client, user):
    kept = Task.objects.create(user=user, title="kept")
    changed = Task.objects.create(user=user, title="changed")
    doomed = Task.objects.create(user=user, title="doomed")
    note = Notification.objects.create(user=user, type="system", title="hello")

    full, cursor, _ = _walk(auth_client)
    assert _keys(full) == {("profile", user.pk, False), ("task", kept.pk, False), ("task", changed.pk, False),
                           ("task", doomed.pk, False), ("notification", note.pk, False)}
    assert next(e for e in full if e["id"] == kept.pk)["data"]["title"] == "kept"

    # nothing happened: nothing comes, and the cursor stays usable
    empty, cursor, _ = _walk(auth_client, cursor)
    assert empty == []

    created = Task.objects.create(user=user, title="new")
    Task.objects.filter(pk=changed.pk).update(title="changed again")
    response = auth_client.delete(f"/api/tasks/{doomed.pk}")
    assert response.status_code == 200
    changes, cursor, _ = _walk(auth_client, cursor)
    assert _keys(changes) == {("task", created.pk, False), ("task", changed.pk, False), ("task", doomed.pk, True)}
    by_id = {e["id"]: e for e in changes}
    assert by_id[changed.pk]["data"]["title"] == "changed again"
    assert by_id[changed.pk]["data"]["version"] == 2
    assert by_id[doomed.pk]["data"] is None

    # a profile change and a challenge; an UPDATE that changes nothing is no change
    user.name = "Alice B"
    user.save()
    challenge = Challenge.objects.create(user=user, task=kept, type="quiz", title="c")
    Task.objects.filter(pk=kept.pk).update(title="kept")
    changes, cursor, _ = _walk(auth_client, cursor)
    assert _keys(changes) == {("profile", user.pk, False), ("challenge", challenge.pk, False)}
    assert next(e for e in changes if e["type"] == "profile")["data"]["name"] == "Alice B"

    # a cascade: deleting the task deletes its challenge, both leave tombstones
    kept_id, challenge_id = kept.pk, challenge.pk
    kept.delete()
    changes, cursor, _ = _walk(auth_client, cursor)
    assert _keys(changes) == {("task", kept_id, True), ("challenge", challenge_id, True)}


def test_each_object_once_per_walk_and_paging(auth_client, user):
    _, cursor, _ = _walk(auth_client)
    tasks = [Task.objects.create(user=user, title=f"t{i}") for i in range(7)]
    for task in tasks:  # several writes of one object are one entry
        Task.objects.filter(pk=task.pk).update(title=task.title + "!")
    first = _sync(auth_client, cursor, limit=3)
    assert len(first["changes"]) == 3 and first["hasMore"] is True
    entries, final, pages = _walk(auth_client, first["cursor"], limit=3)
    entries = first["changes"] + entries
    assert pages == 2  # after the first page of 3: 3 + 1
    assert [e["id"] for e in entries] == [t.pk for t in tasks]  # in write order, none twice
    assert all(e["data"]["title"].endswith("!") for e in entries)
    # a write during a walk comes in the next walk, not in the pages of this one
    mid = _sync(auth_client, cursor, limit=3)
    late = Task.objects.create(user=user, title="late")
    rest, after_walk, _ = _walk(auth_client, mid["cursor"], limit=3)
    assert late.pk not in {e["id"] for e in mid["changes"] + rest}
    changes, _, _ = _walk(auth_client, after_walk)
    assert [e["id"] for e in changes] == [late.pk]


def test_full_state_pages(auth_client, user):
    tasks = [Task.objects.create(user=user, title=f"t{i}") for i in range(4)]
    notes = [Notification.objects.create(user=user, type="system", title=f"n{i}") for i in range(2)]
    entries, cursor, pages = _walk(auth_client, limit=2)
    assert pages == 4  # profile + 4 tasks + 2 notifications = 7 entries
    assert [e["id"] for e in entries] == [user.pk, *sorted(t.pk for t in tasks), *sorted(n.pk for n in notes)]
    assert all(e["data"] is not None for e in entries)
    again, _, _ = _walk(auth_client, cursor)
    assert again == []


def test_out_of_order_commits_are_not_skipped(auth_client, user):
    """A writer that took its transaction id (and log row) first but commits last is still seen."""
    _, cursor, _ = _walk(auth_client)
    first_wrote, release = threading.Event(), threading.Event()
    slow_id = []
    errors = []

    def slow_writer():
        try:
            with transaction.atomic():
                slow_id.append(Task.objects.create(user=user, title="slow").pk)
                first_wrote.set()
                release.wait(10)
        except Exception as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert first_wrote.wait(10)
    fast = Task.objects.create(user=user, title="fast")  # a later id, committed first
    seen, cursor, _ = _walk(auth_client, cursor)
    assert [e["id"] for e in seen] == [fast.pk]
    release.set()
    thread.join(10)
    assert not errors
    seen, cursor, _ = _walk(auth_client, cursor)
    assert [e["id"] for e in seen] == slow_id


def test_concurrent_writers_nothing_skipped(auth_client, user):
    """Several threads write while a client syncs again and again: the union of what it saw is
    every task written, each delivered."""
    _, cursor, _ = _walk(auth_client)
    written, lock, stop = [], threading.Lock(), threading.Event()

    def writer(n):
        try:
            for i in range(8):
                with transaction.atomic():
                    task = Task.objects.create(user=user, title=f"w{n}-{i}")
                    # hold the transaction a moment so commits interleave out of id order
                    Task.objects.filter(pk=task.pk).update(title=f"w{n}-{i}!")
                with lock:
                    written.append(task.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    seen = set()
    while any(t.is_alive() for t in threads) and not stop.is_set():
        entries, cursor, _ = _walk(auth_client, cursor, limit=5)
        seen |= {e["id"] for e in entries}
    for thread in threads:
        thread.join(20)
    entries, cursor, _ = _walk(auth_client, cursor, limit=5)
    seen |= {e["id"] for e in entries}
    assert len(written) == 24
    assert seen == set(written)


def test_foreign_changes_never_appear(auth_client, user, other_user):
    mine = Task.objects.create(user=user, title="mine")
    Task.objects.create(user=other_user, title="theirs")
    Notification.objects.create(user=other_user, type="system", title="theirs")
    full, cursor, _ = _walk(auth_client)
    assert {e["id"] for e in full} == {user.pk, mine.pk}
    theirs = Task.objects.create(user=other_user, title="theirs 2")
    theirs.delete()
    other_user.name = "Bob B"
    other_user.save()
    changes, _, _ = _walk(auth_client, cursor)
    assert changes == []


def test_cursor_of_another_user_is_refused(auth_client, other_client):
    _, cursor, _ = _walk(other_client)
    body = _sync(auth_client, cursor, status=410)
    assert body["code"] == "sync_cursor_expired"


@pytest.mark.parametrize("cursor", ["garbage", "x" * 9000, ".eJyrVkpLzs8tKEotLk4tUrJSMjQ"])
def test_garbage_cursor_says_full_sync(auth_client, cursor):
    body = _sync(auth_client, cursor, status=410)
    assert body["code"] == "sync_cursor_expired"
    assert "full sync" in body["message"]


def test_bad_limit_and_unknown_parameter_are_400(auth_client):
    assert auth_client.get("/api/sync", {"limit": 0}).status_code == 400
    assert auth_client.get("/api/sync", {"limit": "x"}).status_code == 400
    assert auth_client.get("/api/sync", {"since": "2020"}).status_code == 400
    assert auth_client.get("/api/sync").status_code == 200


def test_anonymous_is_401(api_client):
    assert api_client.get("/api/sync").status_code == 401


def test_expired_cursor_and_cleanup(auth_client, user, settings):
    doomed = Task.objects.create(user=user, title="doomed")
    _, cursor, _ = _walk(auth_client)
    doomed_id = doomed.pk
    doomed.delete()
    payload = signing.loads(cursor, salt=f"deepiri.sync:{user.pk}")
    old = signing.dumps({**payload, "at": (timezone.now() - timedelta(days=31)).timestamp()},
                        salt=f"deepiri.sync:{user.pk}", compress=True)
    assert _sync(auth_client, old, status=410)["code"] == "sync_cursor_expired"
    # the fresh cursor still sees the tombstone
    changes, _, _ = _walk(auth_client, cursor)
    assert _keys(changes) == {("task", doomed_id, True)}
    # the cleanup forgets rows past retention (+ a day), twice is harmless
    SyncChange.objects.filter(object_id=doomed_id).update(created_at=timezone.now() - timedelta(days=32))
    assert sync_services.cleanup() >= 2
    assert sync_services.cleanup() == 0
    assert not SyncChange.objects.filter(object_id=doomed_id).exists()


def test_account_deletion_purges_its_log(user, other_user):
    Task.objects.create(user=user, title="a")
    Task.objects.create(user=other_user, title="b")
    user_id = user.pk
    user.delete()
    assert not SyncChange.objects.filter(user_id=user_id).exists()
    assert SyncChange.objects.filter(user_id=other_user.pk).exists()


def _queries_of_walk_page(client, cursor, limit):
    with CaptureQueriesContext(connection) as captured:
        page = _sync(client, cursor, limit)
    return len(captured), page


def test_query_count_constant_per_page(auth_client, user):
    _, cursor, _ = _walk(auth_client)
    task = Task.objects.create(user=user, title="t0")
    for i in range(12):
        other = Task.objects.create(user=user, title=f"t{i}")
        Challenge.objects.create(user=user, task=task, type="quiz", title=f"c{i}")
        Notification.objects.create(user=user, type="system", title=f"n{i}")
        del other
    small, page_small = _queries_of_walk_page(auth_client, cursor, 6)
    large, page_large = _queries_of_walk_page(auth_client, cursor, 30)
    assert len(page_small["changes"]) == 6 and len(page_large["changes"]) == 30
    kinds_small = {e["type"] for e in page_small["changes"]}
    kinds_large = {e["type"] for e in page_large["changes"]}
    # same kinds present → same queries, whatever the page size
    assert kinds_small == kinds_large == {"task", "challenge", "notification"}
    assert small == large
    full_small, _ = _queries_of_walk_page(auth_client, None, 5)
    full_large, _ = _queries_of_walk_page(auth_client, None, 40)
    assert full_small <= full_large <= full_small + 4  # one more listing query per kind the page reaches
