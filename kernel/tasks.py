"""Cross-cutting Celery jobs."""

from __future__ import annotations

from celery import shared_task

from kernel import jobs


@shared_task(name="deepiri.drain_outbox", soft_time_limit=60, time_limit=90)
def drain_outbox() -> dict:
    """Beat job (every 5 s): publish the outbox rows no after-commit hook published (kernel.jobs)."""
    return jobs.drain_outbox()


@shared_task(name="deepiri.cleanup_job_failures", soft_time_limit=60, time_limit=90)
def cleanup_job_failures() -> int:
    """Beat job (daily): forget failed-job records past their retention (safe to run twice)."""
    return jobs.cleanup_failures()
