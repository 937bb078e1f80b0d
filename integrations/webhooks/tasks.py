"""Celery tasks of outgoing webhooks: thin wrappers around integrations.webhooks.services."""

from __future__ import annotations

from celery import shared_task

from integrations.webhooks import job_names, services


@shared_task(name=job_names.DELIVER_ENDPOINT, acks_late=True)
def deliver_endpoint_task(endpoint_id: str, hold: str | None = None) -> int:
    """Send what is due to one endpoint; `hold` is the scan's mark on it, when the scan queued it."""
    return services.deliver_endpoint(endpoint_id, hold=hold)


@shared_task(name=job_names.SCAN_DUE)
def scan_due_task() -> int:
    """Beat job: queue the endpoints whose deliveries are due (first attempts a lost job left
    behind, and retries)."""
    return services.scan_due()
