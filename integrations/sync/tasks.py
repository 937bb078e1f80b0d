"""Celery tasks of incremental sync: thin wrappers around integrations.sync.services."""

from __future__ import annotations

from celery import shared_task

from integrations.sync import job_names, services


@shared_task(name=job_names.CLEANUP)
def cleanup_task() -> int:
    """Beat job: forget change-log rows past the retention (cursors that old answer "full sync")."""
    return services.cleanup()
