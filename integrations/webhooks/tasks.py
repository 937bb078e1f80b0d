"""Celery tasks of outgoing webhooks: thin wrappers around integrations.webhooks.services."""

from __future__ import annotations

from celery import shared_task

from integrations.webhooks import job_names, services


@shared_task(name=job_names.DELIVER_ENDPOINT, acks_late=True)
def deliver_endpoint_task(endpoint_id: str, queued_by_scan: bool = False) -> int:
    return services.deliver_endpoint(endpoint_id, queued_by_scan=queued_by_scan)


@shared_task(name=job_names.SCAN_DUE)
def scan_due_task() -> int:
    """Beat job: queue the endpoints whose deliveries are due (first attempts a lost job left
    behind, and retries)."""
    return services.scan_due()
