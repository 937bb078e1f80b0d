"""`Idempotency-Key` on POST creates: the first answer replayed for 24 h per user and key."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from conftest import client_for
from kernel.models import IdempotencyRecord
from tasks.models import Task


def post_task(client, key=None, title="Write the report"):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post("/api/tasks", {"title": title}, format="json", **headers)


@pytest.mark.django_db
def test_a_repeated_key_replays_the_first_answer_and_creates_once(user):
    client = client_for(user)
    first = post_task(client, "k-1")
    again = post_task(client, "k-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Task.objects.filter(user=user).count() == 1
    assert post_task(client, "k-2").json()["data"]["id"] != first.json()["data"]["id"]
    assert post_task(client).status_code == 201  # no key: an ordinary create
    assert Task.objects.filter(user=user).count() == 3


@pytest.mark.django_db
def test_the_key_is_per_user_and_per_endpoint(user, other_user):
    mine = post_task(client_for(user), "shared")
    theirs = post_task(client_for(other_user), "shared")
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["data"]["id"] != theirs.json()["data"]["id"]
    task_id = mine.json()["data"]["id"]
    generated = client_for(user).post(
        "/api/challenges/generate", {"taskId": task_id}, format="json", HTTP_IDEMPOTENCY_KEY="shared"
    )
    assert generated.status_code in (201, 202)
    assert "Idempotent-Replayed" not in generated


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_refused(user):
    client = client_for(user)
    assert post_task(client, "k", title="One").status_code == 201
    reused = post_task(client, "k", title="Two")
    assert reused.status_code == 422
    assert reused.json().get("code", "idempotency_key_reused") == "idempotency_key_reused"
    assert "different request body" in reused.json()["message"]
    assert Task.objects.filter(user=user).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", " ", "x" * 256, "bad\x01key"])
def test_a_malformed_key_is_a_field_error(user, key):
    response = post_task(client_for(user), key)
    assert response.status_code == 400
    assert "idempotencyKey" in response.json()["errors"]
    assert not Task.objects.exists()


@pytest.mark.django_db
def test_a_failed_request_leaves_the_key_free(user):
    client = client_for(user)
    bad = client.post("/api/tasks", {"title": ""}, format="json", HTTP_IDEMPOTENCY_KEY="retry-me")
    assert bad.status_code == 400
    assert not IdempotencyRecord.objects.exists()
    assert post_task(client, "retry-me").status_code == 201


@pytest.mark.django_db
def test_after_24_hours_the_key_runs_again(user):
    client = client_for(user)
    first = post_task(client, "old")
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=24, seconds=1))
    second = post_task(client, "old")
    assert second.status_code == 201
    assert second.json()["data"]["id"] != first.json()["data"]["id"]
    assert "Idempotent-Replayed" not in second


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_create_once(make_user):
    user = make_user()
    results, barrier = [], threading.Barrier(8)

    def run():
        try:
            barrier.wait(timeout=10)
            response = post_task(client_for(user), "race")
            results.append((response.status_code, response.json()["data"]["id"]))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 8
    assert {status for status, _ in results} == {201}
    assert len({task_id for _, task_id in results}) == 1
    assert Task.objects.filter(user=user).count() == 1


@pytest.mark.django_db
def test_browsers_may_send_the_header(client, settings):
    origin = settings.CORS_ALLOWED_ORIGINS[0]
    response = client.options(
        "/api/tasks",
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization,content-type,idempotency-key",
    )
    assert "idempotency-key" in response["Access-Control-Allow-Headers"].lower()
