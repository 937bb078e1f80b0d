"""Domain-event subscribers (registered in AppConfig.ready()).

Every subscription is after-commit (DESIGN.md §3): a rolled-back request records nothing.
Each handler turns the event into records (services.build-style, JSON-able) and applies them
right away; if MongoDB is unreachable the record goes to Celery (`analytics.tasks.apply_event`),
which retries with backoff. Either way the fold is idempotent by event id, so a retry that
races a late success, or a worker redelivery, changes nothing. Anything still lost is recovered
by `manage.py rebuild_analytics`.

Each handler receives the emitting app's typed event (tasks/events.py, challenges/events.py,
gamification/events.py, accounts/events.py).
"""

from __future__ import annotations

import logging

from pymongo.errors import PyMongoError

from accounts.events import UserDeleted
from analytics import services
from challenges.events import ChallengeCompleted
from deepiri import events
from gamification.events import BadgeAwarded, PointsAwarded
from tasks.events import TaskCompleted, TaskCreated, TaskReopened

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


def on_task_created(event: TaskCreated) -> None:
    _dispatch([services.task_created_record(event.user, event.task)])


def on_task_completed(event: TaskCompleted) -> None:
    _dispatch(
        [
            services.task_completed_record(
                event.user, event.task, event.completed_at, event.actual_duration, event.efficiency
            )
        ]
    )


def on_task_reopened(event: TaskReopened) -> None:
    user, task, previous_completed_at = event.user, event.task, event.previous_completed_at
    try:
        record = services.task_reopened_record(user, task, previous_completed_at)
    except PyMongoError as exc:
        # The stored completion could not be read: a worker builds the reversal once it can.
        from analytics.tasks import record_reopen

        args = (str(user.id), str(task.id), previous_completed_at.isoformat())
        _queue(record_reopen, args, f"reopen of task {task.id}", exc)
        return
    _dispatch([record])


def on_challenge_completed(event: ChallengeCompleted) -> None:
    _dispatch([services.challenge_completed_record(event.user, event.challenge)])


def ledger_record(user, entry):
    """A points.awarded record from a ledger row (also used by the rebuild)."""
    return services.points_awarded_record(
        user,
        entry_id=str(entry.id),
        points=entry.points,
        xp=entry.xp,
        reason=entry.reason,
        source=entry.source,
        # the instant the entry counts for: a reversal carries its original's, so undoing a
        # completion takes the points off the day they were earned
        created_at=entry.occurred_at,
        idempotency_key=entry.idempotency_key,
    )


def on_points_awarded(event: PointsAwarded) -> None:
    _dispatch([ledger_record(event.user, event.entry)])


def badge_key(badge) -> str:
    return str(getattr(badge, "slug", None) or getattr(badge, "id", badge))


def on_badge_awarded(event: BadgeAwarded) -> None:
    _dispatch(
        [
            services.badge_awarded_record(
                event.user,
                badge_key=badge_key(event.badge),
                badge_name=event.badge.name,
                awarded_at=event.user_badge.earned_at,
            )
        ]
    )


def on_user_deleted(event: UserDeleted) -> None:
    user_id = event.user_id
    try:
        services.delete_user_data(user_id)
    except PyMongoError as exc:
        from analytics.tasks import delete_user_data

        _queue(delete_user_data, (str(user_id),), f"deletion of user {user_id}'s data", exc)


def export_section(user) -> dict:
    return services.export_user_data(user)


SUBSCRIPTIONS = {
    TaskCreated: on_task_created,
    TaskCompleted: on_task_completed,
    TaskReopened: on_task_reopened,
    ChallengeCompleted: on_challenge_completed,
    PointsAwarded: on_points_awarded,
    BadgeAwarded: on_badge_awarded,
    UserDeleted: on_user_deleted,
}


def subscribe_all() -> None:
    for event_type, handler in SUBSCRIPTIONS.items():
        events.subscribe(event_type, handler, after_commit=True)
