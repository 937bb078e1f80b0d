"""Parallel completions of one occurrence on PostgreSQL: exactly one next occurrence. Each
thread is a client with its own connection, released together by a barrier."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from conftest import client_for
from tasks.models import Task, TaskOccurrence
from tasks.services import create_task
from tasks.tests.test_concurrency import PARALLEL, race

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_parallel_completions_of_an_occurrence_create_one_next(user):
    task = create_task(user, title="Stretch", understand=False, due_date=datetime.now(UTC) + timedelta(hours=1),
                       recurrence={"rule": "FREQ=DAILY", "anchor": "due"})
    responses, seen = race(user, f"/api/tasks/{task.pk}/complete", {})
    following = [r.json()["data"]["effects"].get("nextOccurrence") for r in responses]
    made = [f for f in following if f is not None]
    assert len(made) == 1 and made[0]["occurrenceIndex"] == 1
    assert Task.objects.filter(user=user).count() == 2
    assert TaskOccurrence.objects.filter(series_id=task.occurrence.series_id, index=1).count() == 1
    assert [e.name for e in seen if e.name == "task.completed"] == ["task.completed"]


def test_parallel_skips_of_an_occurrence_create_one_next(user):
    task = create_task(user, title="Stretch", understand=False, due_date=datetime.now(UTC) + timedelta(hours=1),
                       recurrence={"rule": "FREQ=DAILY", "anchor": "due"})
    barrier = threading.Barrier(PARALLEL)
    codes = []

    def one():
        try:
            client = client_for(user)
            barrier.wait(timeout=10)
            codes.append(client.post(f"/api/tasks/{task.pk}/skip", {}, format="json").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=one) for _ in range(PARALLEL)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(codes) == [200] + [409] * (PARALLEL - 1)
    assert Task.objects.filter(user=user).count() == 2
