"""The retry path through a REAL Celery worker (PostgreSQL + Redis + nx-27017 over the wire)."""

from __future__ import annotations

import time

import pytest

from analytics import mongo as analytics_mongo
from analytics.documents import Event
from conftest import client_for
from devtools.testing.celery import celery_worker  # noqa: F401 - fixture

pytestmark = pytest.mark.services


def test_a_write_that_failed_in_the_request_is_folded_by_the_worker(wire_only, make_user, celery_worker):  # noqa: F811
    uri, name = analytics_mongo._state["uri"], analytics_mongo._state["db"]
    celery_worker(MONGODB_URI=uri, MONGODB_DB=name)  # the worker reaches MongoDB; this process will not
    user = make_user(email="worker@example.com", timezone="Asia/Kolkata")
    client = client_for(user)
    task = client.post("/api/tasks", {"title": "Ship it", "type": "code", "estimatedDuration": 30}, format="json")
    assert task.status_code == 201
    task_id = task.json()["data"]["id"]
    analytics_mongo.connect("mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=50", "down")
    try:
        done = client.post(f"/api/tasks/{task_id}/complete", {"actualDuration": 30}, format="json")
        assert done.status_code == 200
    finally:
        analytics_mongo.connect(uri, name)
    deadline = time.monotonic() + 30  # queued with a 5 s countdown
    while not Event.objects(user_id=user.id, type="task.completed").count():
        assert time.monotonic() < deadline, "the worker never folded the queued event"
        time.sleep(0.25)
    stats = client.get("/api/analytics/stats?period=day").json()["data"]
    assert stats["totalTasksCompleted"] == 1
    assert stats["totalTimeSpent"] == 30
