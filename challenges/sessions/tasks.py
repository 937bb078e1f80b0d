"""The sessions' beat job (`challenges.expire_sessions`, every minute)."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="challenges.expire_sessions")
def expire_sessions() -> int:
    """End multiplayer sessions whose time ran out."""
    return services.expire_due_sessions()
