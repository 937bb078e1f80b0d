"""Cross-cutting Celery jobs."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="deepiri.drain_outbox", soft_time_limit=60, time_limit=90)
def drain_outbox() -> dict:
    """Beat job (every 30 s): publish the jobs the broker refused while it was down (deepiri.jobs)."""
    from deepiri import jobs

    return jobs.drain_outbox()
