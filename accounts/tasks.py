"""Celery tasks of accounts: thin wrappers around services (beat jobs)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="accounts.notify_expiring_tokens")
def notify_expiring_tokens() -> int:
    from accounts import personal_tokens

    return personal_tokens.notify_expiring()
