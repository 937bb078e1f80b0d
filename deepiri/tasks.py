"""Cross-cutting Celery jobs."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_ready

logger = logging.getLogger(__name__)


@shared_task(name="deepiri.drain_outbox", soft_time_limit=60, time_limit=90)
def drain_outbox() -> dict:
    """Beat job: publish the jobs the broker refused while it was down (deepiri.jobs)."""
    from deepiri import jobs

    return jobs.drain_outbox()


@worker_ready.connect
def _drain_when_a_worker_starts(sender=None, **_):
    # A worker coming up usually means the broker is back: do not wait for the next beat tick.
    try:
        drain_outbox.delay()
    except Exception:  # noqa: BLE001 - the beat job covers it
        logger.warning("could not queue an outbox drain at worker start", exc_info=True)
