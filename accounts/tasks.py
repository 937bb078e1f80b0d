"""Celery tasks: thin wrappers over accounts services."""

from __future__ import annotations

from celery import shared_task

from accounts import personal_tokens, tokens


@shared_task(name="accounts.purge_expired_tokens", acks_late=True)
def purge_expired_tokens() -> dict:
    """Daily beat entry: drop token rows past every lifetime (idempotent: a second run finds none)."""
    return tokens.purge_expired()


@shared_task(name="accounts.notify_expiring_tokens")
def notify_expiring_tokens() -> int:
    return personal_tokens.notify_expiring()
