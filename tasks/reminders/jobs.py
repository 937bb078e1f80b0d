"""The due scan's Celery job (loaded by tasks/tasks.py, where the worker finds it)."""

from __future__ import annotations

from celery import shared_task

from . import services

FIRE_DUE = "tasks.fire_due_reminders"


@shared_task(name=FIRE_DUE, soft_time_limit=60, time_limit=90)
def fire_due_reminders() -> dict:
    """Beat job (every REMINDERS_SCAN_SECONDS): safe to run twice at once (claims skip locked
    rows and leased ones; a row is marked sent in the transaction of its notification)."""
    return services.fire_due()
