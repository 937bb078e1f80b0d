"""ETags, 304 on If-None-Match (not counted against the rate limit), `version` on every mutable
resource, and 412 on a stale If-Match / body `version`, with two concurrent writers on
PostgreSQL of which exactly one wins."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from accounts.models import User
from conftest import client_for
from integrations.models import Connection
from notifications.models import Notification
from tasks.models import Task
from tasks.services import create_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def task(user):
    return create_task(user, title="Write the report", understand=False)


def test_single_resource_get_has_a_strong_etag_with_the_version(auth_client, task):
    response = auth_client.get(f"/api/tasks/{task.pk}")
    assert response.status_code == 200
    tag = response["ETag"]
    assert tag.startswith('"1.') and tag.endswith('"') and not tag.startswith("W/")
    assert response.json()["data"]["version"] == 1
    assert auth_client.get(f"/api/tasks/{task.pk}")["ETag"] == tag  # stable while nothing changes


def test_if_none_match_answers_304_without_a_body_and_a_change_gives_a_new_tag(auth_client, task):
    tag = auth_client.get(f"/api/tasks/{task.pk}")["ETag"]
    not_modified = auth_client.get(f"/api/tasks/{task.pk}", HTTP_IF_NONE_MATCH=tag)
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified["ETag"] == tag
    assert auth_client.get(f"/api/tasks/{task.pk}", HTTP_IF_NONE_MATCH=f'"other", W/{tag}').status_code == 304

    assert auth_client.patch(f"/api/tasks/{task.pk}", {"title": "Write it"}, format="json").status_code == 200
    changed = auth_client.get(f"/api/tasks/{task.pk}", HTTP_IF_NONE_MATCH=tag)
    assert changed.status_code == 200
    assert changed["ETag"] != tag and changed["ETag"].startswith('"2.')


def test_lists_have_etags_and_answer_304(auth_client, task):
    first = auth_client.get("/api/tasks?limit=5")
    assert first.status_code == 200 and first["ETag"].startswith('"')
    assert auth_client.get("/api/tasks?limit=5", HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    create_task(task.user, title="Another", understand=False)
    assert auth_client.get("/api/tasks?limit=5", HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 200


@pytest.mark.services
def test_a_304_is_not_counted_against_the_rate_limit(auth_client, task, settings):
    path = f"/api/tasks/{task.pk}"
    first = auth_client.get(path)
    remaining = int(first["RateLimit-Remaining"])
    for _ in range(5):
        answer = auth_client.get(path, HTTP_IF_NONE_MATCH=first["ETag"])
        assert answer.status_code == 304
        assert int(answer["RateLimit-Remaining"]) == remaining
    assert int(auth_client.get(path)["RateLimit-Remaining"]) == remaining - 1


def test_stale_if_match_is_refused_with_412_and_the_current_resource(auth_client, task):
    old_tag = auth_client.get(f"/api/tasks/{task.pk}")["ETag"]
    ok = auth_client.patch(f"/api/tasks/{task.pk}", {"title": "Mine"}, format="json", HTTP_IF_MATCH=old_tag)
    assert ok.status_code == 200 and ok.json()["data"]["version"] == 2

    stale = auth_client.patch(f"/api/tasks/{task.pk}", {"title": "Theirs"}, format="json", HTTP_IF_MATCH=old_tag)
    assert stale.status_code == 412
    body = stale.json()
    assert body["success"] is False and body["code"] == "precondition_failed"
    assert body["data"]["title"] == "Mine" and body["data"]["version"] == 2
    assert stale["ETag"].startswith('"2.')
    assert Task.objects.get(pk=task.pk).title == "Mine"

    # The tag of the 412 is current: the retry goes through.
    retry = auth_client.patch(f"/api/tasks/{task.pk}", {"title": "Merged"}, format="json", HTTP_IF_MATCH=stale["ETag"])
    assert retry.status_code == 200 and retry.json()["data"]["version"] == 3


def test_version_in_the_body_and_if_match_star(auth_client, task):
    stale = auth_client.put(f"/api/tasks/{task.pk}", {"title": "New", "version": 7}, format="json")
    assert stale.status_code == 412
    ok = auth_client.put(f"/api/tasks/{task.pk}", {"title": "New", "version": 1}, format="json")
    assert ok.status_code == 200 and ok.json()["data"]["version"] == 2
    assert auth_client.patch(f"/api/tasks/{task.pk}", {"title": "Any"}, format="json", HTTP_IF_MATCH="*").status_code == 200


@pytest.mark.parametrize("bad", ["1", -1, 0, True, 1.5, None])
def test_a_malformed_body_version_is_a_400(auth_client, task, bad):
    response = auth_client.patch(f"/api/tasks/{task.pk}", {"title": "x", "version": bad}, format="json")
    assert response.status_code == 400
    assert "version" in response.json()["errors"]
    assert Task.objects.get(pk=task.pk).version == 1


def test_garbage_if_match_is_stale_not_a_500(auth_client, task):
    for header in ['"nonsense"', "1", '"1"', '"abc.def"', ","]:
        response = auth_client.patch(f"/api/tasks/{task.pk}", {"title": "x"}, format="json", HTTP_IF_MATCH=header)
        assert response.status_code == 412, header
    assert Task.objects.get(pk=task.pk).title == "Write the report"


def test_delete_with_a_stale_if_match_keeps_the_task(auth_client, task):
    tag = auth_client.get(f"/api/tasks/{task.pk}")["ETag"]
    auth_client.patch(f"/api/tasks/{task.pk}", {"priority": "high"}, format="json")
    assert auth_client.delete(f"/api/tasks/{task.pk}", HTTP_IF_MATCH=tag).status_code == 412
    assert Task.objects.filter(pk=task.pk).exists()
    current = auth_client.get(f"/api/tasks/{task.pk}")["ETag"]
    assert auth_client.delete(f"/api/tasks/{task.pk}", HTTP_IF_MATCH=current).status_code == 200
    assert not Task.objects.filter(pk=task.pk).exists()


def test_a_foreign_task_is_a_404_whatever_the_precondition(other_client, task):
    response = other_client.patch(f"/api/tasks/{task.pk}", {"title": "x"}, format="json", HTTP_IF_MATCH="*")
    assert response.status_code == 404
    assert other_client.get(f"/api/tasks/{task.pk}", HTTP_IF_NONE_MATCH="*").status_code == 404


def test_every_write_moves_the_version_even_outside_the_api(task):
    Task.objects.filter(pk=task.pk).update(priority="high")
    task.refresh_from_db()
    assert task.version == 2
    # Writing a stale version does not set it back: the database keeps the count.
    Task.objects.filter(pk=task.pk).update(version=1, title="Other")
    assert Task.objects.get(pk=task.pk).version == 3
    # A write that changes nothing but updated_at is not a new version.
    task.refresh_from_db()
    task.save(update_fields=["updated_at"])
    assert Task.objects.get(pk=task.pk).version == 3


def test_notifications_profile_and_connections_carry_versions(auth_client, user):
    note = Notification.objects.create(user=user, type="system", title="Hello")
    tag = auth_client.get(f"/api/notifications/{note.pk}")["ETag"]
    assert tag.startswith('"1.')
    assert auth_client.put(f"/api/notifications/{note.pk}/read", HTTP_IF_MATCH=tag).json()["data"]["version"] == 2
    assert auth_client.delete(f"/api/notifications/{note.pk}", HTTP_IF_MATCH=tag).status_code == 412
    assert Notification.objects.filter(pk=note.pk).exists()

    profile = auth_client.get("/api/users/profile")
    assert profile.json()["data"]["version"] == 1
    updated = auth_client.patch("/api/users/profile", {"bio": "hi"}, format="json", HTTP_IF_MATCH=profile["ETag"])
    assert updated.status_code == 200 and updated.json()["data"]["version"] == 2
    stale = auth_client.patch("/api/users/profile", {"bio": "ho"}, format="json", HTTP_IF_MATCH=profile["ETag"])
    assert stale.status_code == 412 and stale.json()["data"]["bio"] == "hi"
    # A sign-in (last_login) is not a new version of the profile.
    User.objects.filter(pk=user.pk).update(last_login="2026-01-01T00:00:00Z")
    assert User.objects.get(pk=user.pk).version == 2

    prefs = auth_client.get("/api/users/preferences")
    assert prefs["ETag"].startswith('"2.')
    assert auth_client.patch(
        "/api/users/preferences", {"theme": "dark"}, format="json", HTTP_IF_MATCH=prefs["ETag"]
    ).status_code == 200
    assert auth_client.patch(
        "/api/users/preferences", {"theme": "light"}, format="json", HTTP_IF_MATCH=prefs["ETag"]
    ).status_code == 412

    conn = Connection.objects.create(user=user, service="github", auth_type="token")
    detail = auth_client.get("/api/integrations/github")
    assert detail.json()["data"]["version"] == 1
    assert auth_client.patch(
        "/api/integrations/github", {"autoSync": False}, format="json", HTTP_IF_MATCH=detail["ETag"]
    ).status_code == 200
    assert auth_client.patch(
        "/api/integrations/github", {"autoSync": True}, format="json", HTTP_IF_MATCH=detail["ETag"]
    ).status_code == 412
    conn.refresh_from_db()
    assert conn.auto_sync is False and conn.version == 2


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_writers_on_the_same_version_exactly_one_wins(user):
    task = create_task(user, title="Shared", understand=False)
    writers = 6
    barrier = threading.Barrier(writers)
    statuses, errors = [], []

    def write(n):
        try:
            client = client_for(user)
            barrier.wait(timeout=10)
            response = client.patch(f"/api/tasks/{task.pk}", {"title": f"writer {n}", "version": 1}, format="json")
            statuses.append((response.status_code, n))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    codes = sorted(code for code, _ in statuses)
    assert codes == [200] + [412] * (writers - 1), statuses
    winner = next(n for code, n in statuses if code == 200)
    stored = Task.objects.get(pk=task.pk)
    assert stored.title == f"writer {winner}" and stored.version == 2
