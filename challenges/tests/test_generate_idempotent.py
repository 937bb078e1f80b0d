"""Generation is idempotent per task: one live challenge unless another is asked for, the same
one for concurrent requests, none for a completed, cancelled or deleted task."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from challenges import services
from challenges.models import Challenge, ChallengeStatus
from conftest import client_for
from notifications.models import Notification
from tasks.models import Task, TaskStatus
from tasks.services import complete_task, create_task

committing = pytest.mark.django_db(transaction=True)


def generate(client, task_id, **extra):
    return client.post("/api/challenges/generate", {"taskId": task_id, **extra}, format="json")


@committing
def test_a_second_request_gets_the_live_challenge(user, no_ai):
    task = create_task(user, title="Refactor the importer", understand=False)
    client = client_for(user)
    first = generate(client, task.pk)
    assert first.status_code == 201
    again = generate(client, task.pk)
    assert again.status_code == 201
    assert again.json()["data"]["id"] == first.json()["data"]["id"]
    client.post(f"/api/challenges/{first.json()['data']['id']}/start")
    assert generate(client, task.pk).json()["data"]["id"] == first.json()["data"]["id"]  # active is live too
    assert Challenge.objects.filter(task=task).count() == 1


@committing
def test_another_is_made_only_when_asked_for(user, no_ai):
    task = create_task(user, title="Refactor the importer", understand=False)
    client = client_for(user)
    first = generate(client, task.pk).json()["data"]
    second = generate(client, task.pk, new=True).json()["data"]
    assert second["id"] != first["id"]
    assert Challenge.objects.filter(task=task).count() == 2
    assert generate(client, task.pk, new="maybe").status_code == 400


@committing
def test_a_finished_challenge_does_not_block_a_new_one(user, no_ai):
    task = create_task(user, title="Refactor the importer", understand=False)
    client = client_for(user)
    first = generate(client, task.pk).json()["data"]
    Challenge.objects.filter(pk=first["id"]).update(status=ChallengeStatus.EXPIRED)
    assert generate(client, task.pk).json()["data"]["id"] != first["id"]


@committing
@pytest.mark.parametrize("status", [TaskStatus.COMPLETED, TaskStatus.CANCELLED])
def test_no_generation_for_a_closed_task(user, no_ai, status):
    task = create_task(user, title="Done already", understand=False)
    Task.objects.filter(pk=task.pk).update(status=status)
    response = generate(client_for(user), task.pk)
    assert response.status_code == 409
    assert not Challenge.objects.exists()


@committing
def test_a_deleted_task_is_a_404(user, other_user, no_ai):
    task = create_task(user, title="Gone", understand=False)
    theirs = create_task(other_user, title="Not yours", understand=False)
    Task.objects.filter(pk=task.pk).delete()
    assert generate(client_for(user), task.pk).status_code == 404
    assert generate(client_for(user), theirs.pk).status_code == 404
    assert not Challenge.objects.exists()


@committing
def test_a_task_completed_while_generating_gets_no_content(user, no_ai):
    task = create_task(user, title="Race the worker", understand=False)
    challenge = Challenge.objects.create(user=user, task=task, title="x", status=ChallengeStatus.GENERATING)
    complete_task(user, task)
    result = services.run_generation(challenge.pk, use_ai=False)
    assert result.status == ChallengeStatus.FAILED
    assert result.fallback_reason == "task_closed"
    assert not Notification.objects.filter(user=user, type="challenge_generated").exists()


@pytest.mark.services
@committing
def test_concurrent_requests_get_one_challenge(make_user, no_ai):
    user = make_user()
    task = create_task(user, title="Hot task", understand=False)
    ids, errors, barrier = [], [], threading.Barrier(12)

    def run():
        try:
            barrier.wait(timeout=10)
            response = generate(client_for(user), task.pk)
            if response.status_code in (201, 202):
                ids.append(response.json()["data"]["id"])
            else:
                errors.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(ids) == 12 and len(set(ids)) == 1
    assert Challenge.objects.filter(task=task).count() == 1
    assert Notification.objects.filter(user=user, type="challenge_generated").count() <= 1
