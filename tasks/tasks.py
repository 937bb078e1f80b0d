"""Celery jobs of the tasks app: thin wrappers around services."""

from __future__ import annotations

from celery import shared_task
from django.db import DatabaseError

from tasks import services


@shared_task(
    name="tasks.understand_task",
    acks_late=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=3,
    soft_time_limit=60,
    time_limit=90,
)
def understand_task(task_id: str) -> dict | None:
    """Fill a task's `classification` (idempotent: running it twice classifies twice, same result)."""
    task = services.understand_task(task_id)
    return None if task is None else task.classification
