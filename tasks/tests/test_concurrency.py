"""Simultaneous completions on PostgreSQL: one completion, one event, whatever the race.

Each thread is a separate client with its own database connection, released together by a
barrier, so the requests really overlap inside the database."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from challenges.services import request_generation, run_generation
from conftest import client_for
from kernel import events
from tasks.services import create_task

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

PARALLEL = 6


def race(user, path, payload):
    barrier = threading.Barrier(PARALLEL)
    responses, errors = [], []

    def one():
        try:
            client = client_for(user)
            barrier.wait(timeout=10)
            responses.append(client.post(path, payload, format="json"))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=one) for _ in range(PARALLEL)]
    with events.capture() as seen:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert not errors, errors
    assert [r.status_code for r in responses] == [200] * PARALLEL, [r.json() for r in responses]
    return responses, seen


def test_parallel_task_completions_complete_once(user):
    task = create_task(user, title="Ship it", estimated_duration=30, understand=False)
    responses, seen = race(user, f"/api/tasks/{task.pk}/complete", {"actualDuration": 30})
    assert [e.name for e in seen if e.name == "task.completed"] == ["task.completed"]
    completed_at = {r.json()["data"]["completionData"]["completedAt"] for r in responses}
    assert len(completed_at) == 1  # everyone sees the one completion
    awarded = [r.json()["data"]["effects"]["pointsAwarded"] for r in responses]
    assert sum(1 for a in awarded if a) <= 1  # at most one response carries an award


def test_parallel_challenge_completions_complete_once(user):
    task = create_task(user, title="Read the chapter", understand=False)
    challenge = run_generation(request_generation(user, task).pk)
    responses, seen = race(user, f"/api/challenges/{challenge.pk}/complete", {"score": 90})
    assert [e.name for e in seen if e.name == "challenge.completed"] == ["challenge.completed"]
    assert len({r.json()["data"]["completionData"]["completedAt"] for r in responses}) == 1
