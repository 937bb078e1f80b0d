"""What a sync tells the user, and its count toward badges: integrations' own follow-ups of a
finished or failed sync, called after the sync's transaction commits (a sync that rolled back
tells no one). Deciding what to tell the user is this app's; notifications stores and delivers,
gamification counts the sync toward badges."""

from __future__ import annotations

from django.utils import timezone

from gamification import services as gamification
from integrations.events import IntegrationFailed, IntegrationSynced
from notifications import services as notifications

LABELS = {"google_docs": "Google Docs", "github": "GitHub"}


def _label(provider: str) -> str:
    return LABELS.get(provider, provider.replace("_", " ").title())


def notify_synced(event: IntegrationSynced) -> None:
    """Tell the user what a sync brought in. Scheduled and webhook syncs that changed nothing
    stay quiet (they run every few minutes); a manual or first sync always reports."""
    if event.created + event.updated + event.completed + event.deleted == 0 and event.trigger not in (
        "manual",
        "connect",
    ):
        return
    parts = [f"{event.created} new", f"{event.updated} updated"]
    if event.completed:
        parts.append(f"{event.completed} completed")
    if event.deleted:
        parts.append(f"{event.deleted} removed")
    notifications.notify(
        event.user,
        notifications.NotificationType.INTEGRATION_SYNCED,
        f"{_label(event.provider)} sync finished",
        f"{', '.join(parts)} tasks.",
        data={
            "service": event.provider,
            "run_id": event.run_id,
            "created": event.created,
            "updated": event.updated,
            "completed": event.completed,
            "deleted": event.deleted,
        },
        priority=notifications.Priority.LOW,
        dedupe_key=f"sync:{event.run_id}",
    )


def notify_failed(event: IntegrationFailed) -> None:
    error = event.error or "The sync did not finish."
    label = _label(event.provider)
    needs_reauth = error.startswith("needs_reauth:")
    if needs_reauth:
        title = f"Reconnect {label}"
        message = f"Deepiri lost access to your {label} account. Reconnect it to keep importing tasks."
    else:
        title = f"{label} sync failed"
        message = error[:500]
    if event.run_id is not None:
        dedupe = f"sync:{event.run_id}"
    else:  # no run (the grant died): once per connection per day
        dedupe = f"sync-failed:{event.connection_id}:{timezone.now():%Y-%m-%d}"
    notifications.notify(
        event.user,
        notifications.NotificationType.INTEGRATION_FAILED,
        title,
        message,
        data={"service": event.provider, "run_id": event.run_id, "needs_reauth": needs_reauth},
        priority=notifications.Priority.HIGH,
        dedupe_key=dedupe,
    )


def count_toward_badges(event: IntegrationSynced) -> None:
    gamification.record_integration_sync(
        event.user, run_id=event.run_id, provider=event.provider, tasks_created=event.created
    )


def sync_finished(event: IntegrationSynced) -> None:
    count_toward_badges(event)
    notify_synced(event)
