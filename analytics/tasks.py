"""Celery tasks: thin wrappers over analytics services."""

from __future__ import annotations

from datetime import datetime

from celery import shared_task
from django.contrib.auth import get_user_model
from pymongo.errors import PyMongoError

from analytics import freshness, insights, job_names, mongo, services
from tasks.models import Task


@shared_task(
    name=job_names.APPLY_EVENT,
    autoretry_for=(PyMongoError,),
    retry_backoff=5,
    retry_backoff_max=300,  # below the broker's visibility timeout, or a waiting retry is redelivered
    max_retries=12,
    acks_late=True,
)
def apply_event(record: dict) -> bool:
    """Fold one event record (from analytics.handlers) whose inline write failed. Idempotent."""
    return mongo.guarded(services.apply_record, record)


@shared_task(
    name=job_names.RECORD_REOPEN,
    autoretry_for=(PyMongoError,),
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=12,
    acks_late=True,
)
def record_reopen(user_id: str, task_id: str, previous_completed_at: str) -> bool:
    """A task.reopened: build the reversal from the stored completion and fold it."""
    user = get_user_model().objects.filter(pk=user_id).first()
    task = Task.objects.filter(pk=task_id, user_id=user_id).first()
    if user is None or task is None:
        return False
    record = services.task_reopened_record(user, task, datetime.fromisoformat(previous_completed_at))
    return services.apply_record(record) if record else False


@shared_task(
    name=job_names.DELETE_USER_DATA, autoretry_for=(PyMongoError,), retry_backoff=5, retry_backoff_max=300, max_retries=12
)
def delete_user_data(user_id: str) -> dict:
    return services.delete_user_data(user_id)


@shared_task(
    name=job_names.REBUILD_USER,
    autoretry_for=(PyMongoError,),
    retry_backoff=5,
    retry_backoff_max=60,
    max_retries=5,
    acks_late=True,
)
def rebuild_user(user_id: str) -> dict | None:
    """Recompute one user's analytics from PostgreSQL (queued by analytics.freshness when the
    store is behind). Idempotent: the result depends only on PostgreSQL."""
    return mongo.guarded(freshness.rebuild, user_id)


@shared_task(name=job_names.NIGHTLY_INSIGHTS, acks_late=True)
def nightly_insights() -> dict:
    """Hourly beat entry: refresh insights for the users for whom it is 02:xx now (their night)."""
    return insights.run_nightly()
