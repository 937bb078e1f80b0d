"""Domain-event subscribers (registered in AppConfig.ready()).

Every subscription is after-commit (DESIGN.md §3): a rolled-back request records nothing.
Each handler turns the event into records (services.build-style, JSON-able) and applies them
right away; if MongoDB is unreachable the record goes to Celery (`analytics.tasks.apply_event`),
which retries with backoff. Either way the fold is idempotent by event id, so a retry that
races a late success, or a worker redelivery, changes nothing. Anything still lost is recovered
by `manage.py rebuild_analytics`.

Payloads (the emitting apps' contracts, /tmp/team.md and each app's events.py):
    task.created(user, task)
    task.completed(user, task, completed_at, actual_duration, efficiency)
    task.reopened(user, task, previous_completed_at)
    challenge.completed(user, challenge)
    points.awarded(user, entry | points/xp/reason/source/idempotency_key ...)
    badge.awarded(user, badge[, award])
    user.deleted(user_id)
"""

from __future__ import annotations

import logging

from pymongo.errors import PyMongoError

from analytics import services
from deepiri import events

logger = logging.getLogger(__name__)


def _queue(task, args: tuple, what: str, exc: Exception) -> None:
    """Hand a failed MongoDB write to a Celery worker, which retries with backoff. With eager
    Celery (no worker, the embedded setup) retrying inline would only stall the request: the
    write is dropped and `rebuild_analytics` recovers it."""
    if task.app.conf.task_always_eager:
        logger.warning("analytics: MongoDB unavailable (%s); %s dropped (rebuild_analytics recovers it)", exc, what)
        return
    logger.warning("analytics: MongoDB unavailable (%s); %s queued for retry", exc, what)
    task.apply_async(args, countdown=5)


def _dispatch(records: list[dict]) -> None:
    from analytics.tasks import apply_event

    for record in records:
        if record is None:
            continue
        try:
            services.apply_record(record)
        except PyMongoError as exc:
            _queue(apply_event, (record,), record["event_id"], exc)


def _first(payload: dict, *names):
    for name in names:
        if payload.get(name) is not None:
            return payload[name]
    return None


def on_task_created(name, user, task, **_):
    _dispatch([services.task_created_record(user, task)])


def on_task_completed(name, user, task, completed_at=None, actual_duration=None, efficiency=None, **_):
    _dispatch([services.task_completed_record(user, task, completed_at, actual_duration, efficiency)])


def on_task_reopened(name, user, task, previous_completed_at=None, **_):
    try:
        record = services.task_reopened_record(user, task, previous_completed_at)
    except PyMongoError as exc:
        # The stored completion could not be read: a worker builds the reversal once it can.
        from analytics.tasks import record_reopen

        args = (str(user.id), str(task.id), previous_completed_at.isoformat())
        _queue(record_reopen, args, f"reopen of task {task.id}", exc)
        return
    _dispatch([record])


def on_challenge_completed(name, user, challenge, **_):
    _dispatch([services.challenge_completed_record(user, challenge)])


def ledger_record(user, entry):
    """A points.awarded record from a ledger row (also used by the rebuild)."""
    return services.points_awarded_record(
        user,
        entry_id=str(entry.id),
        points=getattr(entry, "points", 0),
        xp=getattr(entry, "xp", 0),
        reason=getattr(entry, "reason", None),
        source=getattr(entry, "source", None),
        # the instant the entry counts for: a reversal carries its original's, so undoing a
        # completion takes the points off the day they were earned
        created_at=getattr(entry, "occurred_at", None) or getattr(entry, "created_at", None),
        idempotency_key=getattr(entry, "idempotency_key", None),
    )


def on_points_awarded(name, user, **payload):
    entry = _first(payload, "entry", "ledger_entry", "transaction", "row")
    if entry is not None:
        record = ledger_record(user, entry)
    else:
        key = _first(payload, "idempotency_key", "key")
        if key is None:
            logger.warning("analytics: points.awarded without a ledger entry or idempotency key; skipped")
            return
        record = services.points_awarded_record(
            user,
            entry_id=f"{user.id}:{key}",
            points=payload.get("points"),
            xp=payload.get("xp"),
            reason=payload.get("reason"),
            source=payload.get("source"),
            created_at=_first(payload, "created_at", "awarded_at"),
            idempotency_key=key,
        )
    _dispatch([record])


def badge_key(badge) -> str:
    return str(getattr(badge, "slug", None) or getattr(badge, "id", badge))


def on_badge_awarded(name, user, badge, **payload):
    award = payload.get("award") or payload.get("user_badge")
    awarded_at = (
        _first(payload, "awarded_at", "earned_at")
        or getattr(award, "earned_at", None)
        or getattr(award, "awarded_at", None)
    )
    _dispatch(
        [
            services.badge_awarded_record(
                user, badge_key=badge_key(badge), badge_name=getattr(badge, "name", None), awarded_at=awarded_at
            )
        ]
    )


def on_user_deleted(name, user_id, **_):
    try:
        services.delete_user_data(user_id)
    except PyMongoError as exc:
        from analytics.tasks import delete_user_data

        _queue(delete_user_data, (str(user_id),), f"deletion of user {user_id}'s data", exc)


def export_section(user) -> dict:
    return services.export_user_data(user)


SUBSCRIPTIONS = {
    "task.created": on_task_created,
    "task.completed": on_task_completed,
    "task.reopened": on_task_reopened,
    "challenge.completed": on_challenge_completed,
    "points.awarded": on_points_awarded,
    "badge.awarded": on_badge_awarded,
    "user.deleted": on_user_deleted,
}


def subscribe_all() -> None:
    for name, handler in SUBSCRIPTIONS.items():
        events.subscribe(name, handler, after_commit=True)
