"""Celery tasks: thin wrappers around integrations.services."""

from __future__ import annotations

import logging

from celery import shared_task

from integrations import selectors, services
from integrations.providers.base import ProviderError, RateLimited
from integrations.services import job_names
from integrations.sync import tasks as sync_tasks  # noqa: F401 - registers the sync jobs with Celery
from integrations.webhooks import tasks as webhook_tasks  # noqa: F401 - registers the webhook jobs with Celery
from kernel import jobs

logger = logging.getLogger("integrations")


@shared_task(bind=True, name=job_names.SYNC_CONNECTION, max_retries=10, acks_late=True)
def sync_connection_task(
    self, connection_id: str, trigger: str = "schedule", full: bool = False, refs: list | None = None
):
    """Sync one connection. A rate limit re-queues this task at the time the provider named
    (the run resumes from its checkpoint); a sync already running makes a targeted (webhook)
    sync wait for it, and a scheduled one step aside."""
    try:
        run = services.sync_connection(connection_id, trigger=trigger, full=full, refs=refs)
    except services.SyncInProgress:
        if refs:
            raise self.retry(countdown=15) from None
        return None
    except RateLimited as exc:
        countdown = services.retry_delay(exc, self.request.retries)
        raise self.retry(countdown=countdown, exc=exc) from None
    return run.pk if run else None


@shared_task(name="integrations.enqueue_due_syncs")
def enqueue_due_syncs() -> int:
    """Beat job: enqueue every connection whose automatic sync is due."""
    claimed = services.claim_due_connections()
    for pk in claimed:  # claimed: their next time is moved, so a job the broker refuses waits in the outbox
        jobs.enqueue(job_names.SYNC_CONNECTION, pk, trigger="schedule")
    if claimed:
        logger.info("enqueued %d due integration syncs", len(claimed))
    return len(claimed)


@shared_task(name=job_names.REGISTER_WEBHOOKS)
def register_webhooks_task(connection_id: str) -> int:
    conn = selectors.live_connection(connection_id)
    if conn is None or services.pause_reason(conn):
        return 0  # a provider not configured here is never called
    try:
        return len(services.register_webhooks(conn))
    except ProviderError as exc:
        logger.info("webhook registration for %s failed: %s", connection_id, exc)
        return 0


@shared_task(name="integrations.renew_webhooks")
def renew_webhooks_task() -> int:
    """Beat job: renew push channels that are about to expire."""
    renewed = 0
    for conn in selectors.connections_with_webhooks().iterator():
        if services.pause_reason(conn):
            continue  # a provider not configured here is never called
        try:
            renewed += services.renew_webhooks(conn)
        except ProviderError as exc:
            logger.info("renewing the webhooks of %s failed: %s", conn.pk, exc)
    return renewed
