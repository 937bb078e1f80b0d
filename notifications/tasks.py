"""Celery tasks: thin wrappers around services (beat jobs), and the email job (notifications.email,
imported here so the worker registers it)."""

from __future__ import annotations

from celery import shared_task

from . import job_names, services
from .email import send_notification_email  # noqa: F401
from .webpush import push_to_subscription  # noqa: F401


@shared_task(name=job_names.CLEANUP)
def cleanup_notifications() -> dict:
    return services.cleanup()


@shared_task(name=job_names.REPUSH_PENDING)
def repush_pending() -> int:
    return services.repush_pending()
