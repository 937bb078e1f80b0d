"""Subscribers of other apps' domain events (registered in NotificationsConfig.ready()).

All run after the emitter's transaction commits: a rolled-back change notifies no one.
"""

from __future__ import annotations

import logging

from deepiri import events
from realtime import publisher

from . import services
from .models import NotificationType, Priority

logger = logging.getLogger(__name__)


def _attr(obj, *names, default=None):
    for name in names:
        value = getattr(obj, name, None)
        if value not in (None, ""):
            return value
    return default


# ------------------------------------------------------------------------------ gamification
def on_badge_awarded(*, user, badge, **_):
    name = _attr(badge, "name", default="a badge")
    services.notify(
        user,
        NotificationType.BADGE_EARNED,
        f"Badge earned: {name}",
        _attr(badge, "description", default=f"You earned the {name} badge."),
        data={
            "badge_id": str(badge.pk),
            "slug": _attr(badge, "slug"),
            "icon": _attr(badge, "icon"),
            "rarity": _attr(badge, "rarity"),
        },
        priority=Priority.MEDIUM,
        dedupe_key=f"badge:{badge.pk}",
    )


def on_level_up(*, user, from_level, to_level, **_):
    services.notify(
        user,
        NotificationType.LEVEL_UP,
        f"Level up! You reached level {to_level}",
        f"You went from level {from_level} to level {to_level}. Keep going!",
        data={"from": from_level, "to": to_level},
        priority=Priority.HIGH,
        dedupe_key=f"level:{to_level}",
    )


# ------------------------------------------------------------------------------ challenges
def challenge_payload(challenge) -> dict:
    """The REST shape of the challenge (issue 3's `challenge_to_dict`: plain JSON values)."""
    from challenges.serializers import challenge_to_dict

    return challenge_to_dict(challenge)


def on_challenge_generated(*, user, challenge, **_):
    publisher.send_to_user_now(str(user.pk), "challenge-generated", {"challenge": challenge_payload(challenge)})
    services.notify(
        user,
        NotificationType.CHALLENGE_GENERATED,
        f"New challenge ready: {challenge.title}"[:200],
        "Your challenge is ready. Start it when you are.",
        data={
            "challenge_id": str(challenge.pk),
            "task_id": str(challenge.task_id) if getattr(challenge, "task_id", None) else None,
            "type": _attr(challenge, "type"),
            "difficulty": _attr(challenge, "difficulty"),
        },
        priority=Priority.MEDIUM,
        dedupe_key=f"challenge:{challenge.pk}",
    )


# ------------------------------------------------------------------------------ integrations
def _service_name(connection) -> str:
    return str(_attr(connection, "provider", "service", default="integration"))


def on_integration_synced(*, user, connection, run, **_):
    """Tell the user what a sync brought in. Scheduled and webhook syncs that changed nothing
    stay quiet (they run every few minutes); a manual or first sync always reports."""
    service = _service_name(connection)
    created = int(_attr(run, "created_count", default=0) or 0)
    updated = int(_attr(run, "updated_count", default=0) or 0)
    completed = int(_attr(run, "completed_count", default=0) or 0)
    deleted = int(_attr(run, "deleted_count", default=0) or 0)
    trigger = _attr(run, "trigger", default="manual")
    if created + updated + completed + deleted == 0 and trigger not in ("manual", "connect"):
        return
    parts = [f"{created} new", f"{updated} updated"]
    if completed:
        parts.append(f"{completed} completed")
    if deleted:
        parts.append(f"{deleted} removed")
    services.notify(
        user,
        NotificationType.INTEGRATION_SYNCED,
        f"{_label(service)} sync finished",
        f"{', '.join(parts)} tasks.",
        data={
            "service": service,
            "run_id": str(run.pk),
            "created": created,
            "updated": updated,
            "completed": completed,
            "deleted": deleted,
        },
        priority=Priority.LOW,
        dedupe_key=f"sync:{run.pk}",
    )


def on_integration_failed(*, user, connection, run=None, error=None, **_):
    service = _service_name(connection)
    error = str(error or _attr(run, "error", default="") or "The sync did not finish.")
    needs_reauth = error.startswith("needs_reauth:")
    if needs_reauth:
        title = f"Reconnect {_label(service)}"
        message = f"Deepiri lost access to your {_label(service)} account. Reconnect it to keep importing tasks."
    else:
        title = f"{_label(service)} sync failed"
        message = error[:500]
    if run is not None:
        dedupe = f"sync:{run.pk}"
    else:  # no run (the grant died): once per connection per day
        from django.utils import timezone

        dedupe = f"sync-failed:{connection.pk}:{timezone.now():%Y-%m-%d}"
    services.notify(
        user,
        NotificationType.INTEGRATION_FAILED,
        title,
        message,
        data={"service": service, "run_id": str(run.pk) if run is not None else None, "needs_reauth": needs_reauth},
        priority=Priority.HIGH,
        dedupe_key=dedupe,
    )


def _label(service: str) -> str:
    return {"google_docs": "Google Docs", "github": "GitHub"}.get(service, service.replace("_", " ").title())


def subscribe_all() -> None:
    events.subscribe("badge.awarded", on_badge_awarded, after_commit=True)
    events.subscribe("level.up", on_level_up, after_commit=True)
    events.subscribe("challenge.generated", on_challenge_generated, after_commit=True)
    events.subscribe("integration.synced", on_integration_synced, after_commit=True)
    events.subscribe("integration.failed", on_integration_failed, after_commit=True)


def export_user(user) -> dict:
    from .models import Notification
    from .serializers import NotificationSerializer, NotificationSettingsSerializer

    return {
        "settings": NotificationSettingsSerializer(services.get_settings(user)).data,
        "notifications": NotificationSerializer(Notification.objects.filter(user=user), many=True).data,
    }
