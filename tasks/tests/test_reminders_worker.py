"""A real Celery worker SIGKILLed in the middle of a due scan: no reminder is lost (its claims
expire with the lease and the next scan sends them) and none is sent twice."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from devtools.testing.celery import celery_worker  # noqa: F401 - fixture
from kernel import jobs
from notifications.models import Notification
from tasks.models import Reminder, Task
from tasks.reminders import services as reminders
from tasks.reminders.jobs import FIRE_DUE

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

COUNT = 600


def test_a_worker_killed_mid_batch_loses_and_doubles_nothing(celery_worker, user, settings):  # noqa: F811
    settings.REMINDERS_LEASE_SECONDS = 2
    due = timezone.now() - timedelta(seconds=5)
    tasks = Task.objects.bulk_create([Task(user=user, title=f"T{n}", due_date=due) for n in range(COUNT)])
    Reminder.objects.bulk_create(
        [Reminder(user=user, task=t, offset_seconds=0, channels=["in_app"], fire_at=due) for t in tasks]
    )
    worker = celery_worker(REMINDERS_LEASE_SECONDS="2", REMINDERS_BATCH="100")
    jobs.publish(FIRE_DUE)
    deadline = time.monotonic() + 60
    sent = 0
    while time.monotonic() < deadline:
        sent = Reminder.objects.filter(status="sent").count()
        if sent >= 20:
            break
        time.sleep(0.01)
    worker.kill()
    assert 0 < sent < COUNT, f"the kill should land mid-batch (sent {sent})"
    time.sleep(2.5)  # the dead worker's leases run out
    for _ in range(30):  # the next scans (each stops at its time budget)
        if not reminders.fire_due():
            break
    assert Reminder.objects.filter(status="sent", fire_count=1).count() == COUNT  # 0 lost, 0 fired twice
    assert Notification.objects.filter(user=user, type="task_reminder").count() == COUNT  # 0 duplicated
