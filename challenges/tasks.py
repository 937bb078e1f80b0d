"""Celery jobs of the challenges app: thin wrappers around challenges.services."""

from __future__ import annotations

from celery import shared_task
from django.db import DatabaseError

from challenges import job_names, services
from challenges.sessions.tasks import expire_sessions  # noqa: F401  (the worker finds tasks here)


@shared_task(
    name=job_names.RUN_GENERATION,
    acks_late=True,  # a worker that dies mid-job leaves it on the queue for another
    reject_on_worker_lost=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=5,
    soft_time_limit=60,
    time_limit=90,
)
def run_generation(challenge_id: str) -> str | None:
    """Idempotent per challenge: a redelivered or repeated job finds it generated and stops."""
    challenge = services.run_generation(challenge_id)
    return None if challenge is None else challenge.status


@shared_task(name=job_names.EXPIRE_OVERDUE, soft_time_limit=120, time_limit=150)
def expire_overdue_challenges() -> dict:
    return services.expire_overdue()


@shared_task(
    name=job_names.UNDERSTAND_TASK,
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


@shared_task(name=job_names.REQUEUE_UNDERSTANDING, soft_time_limit=60, time_limit=90)
def requeue_understanding() -> int:
    """Beat job: tasks whose understanding was lost (a dropped job, a job that gave up) get it."""
    return services.requeue_understanding()
