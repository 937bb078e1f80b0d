"""Analytics' wiring: its domain-event subscribers and what it plugs into the registries below
it (`register()`, called from AnalyticsConfig.ready()).

Every subscription runs in the emitter's transaction and only writes the job's outbox row
(kernel.jobs.enqueue_on_commit): a rolled-back request records nothing, and a committed one
hands its records to a worker even when the process dies right after COMMIT.
Each handler turns the event into records (services.build-style, JSON-able), and MongoDB is
never touched in the request: with a Celery worker the records go to it (`analytics.tasks`,
which retry with backoff); when the broker is down they wait in the outbox.
With eager Celery (no worker: the embedded setup) they are applied inline through the
MongoDB circuit breaker, and kept in the outbox when MongoDB is down, so an outage costs a
request at most one failed call per breaker cycle. The fold is idempotent by event id, so a
retry that races a late success, or a redelivery, changes nothing; anything still lost is
recovered by `manage.py rebuild_analytics`.

Each handler receives the emitting app's typed event (tasks/events.py, challenges/events.py,
gamification/events.py, accounts/events.py).
"""

from __future__ import annotations

import functools
import logging

from django.db import DatabaseError, transaction
from pymongo.errors import PyMongoError

from accounts import admin as user_admin
from accounts.events import UserDeleted
from analytics import admin, job_names, mongo, services
from challenges.events import ChallengeCompleted
from gamification.events import BadgeAwarded, PointsAwarded
from kernel import events, exports, health, jobs
from tasks.events import TaskCompleted, TaskCreated, TaskReopened

logger = logging.getLogger(__name__)


def _inline() -> bool:
    return jobs.runs_inline()


def _hand_off(job_name: str, args: tuple, what: str, inline=None) -> None:
    """Give the job to a worker; inline (eager Celery) run `inline()` (or the job's body) through
    the breaker and keep the job in the outbox when MongoDB is down."""
    if not _inline():
        jobs.enqueue_on_commit(job_name, *args)
        return

    def run_inline():
        try:
            mongo.guarded(inline or (lambda: jobs.task_named(job_name).run(*args)))
        except PyMongoError as exc:
            logger.warning("analytics: MongoDB unavailable (%s); %s kept in the outbox", exc, what)
            jobs.keep(job_name, list(args), {}, str(exc))
        except Exception:  # an inline fold failing must never break the committed request
            logger.exception("analytics: %s failed inline", what)

    transaction.on_commit(run_inline)


def _dispatch(records: list[dict]) -> None:
    for record in records:
        if record is None:
            continue
        _hand_off(job_names.APPLY_EVENT, (record,), record["event_id"], inline=lambda r=record: services.apply_record(r))


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
    # The reversal is built from the stored completion (a MongoDB read): the worker does it.
    user, task, previous_completed_at = event.user, event.task, event.previous_completed_at
    if previous_completed_at is None:
        return
    args = (str(user.id), str(task.id), previous_completed_at.isoformat())
    _hand_off(job_names.RECORD_REOPEN, args, f"reopen of task {task.id}")


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
    _hand_off(job_names.DELETE_USER_DATA, (str(user_id),), f"deletion of user {user_id}'s data")


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


def _guarded(handler):
    """In the emitter's transaction a handler's bug must not undo the change: only a database
    error (the transaction is broken anyway) goes up."""

    @functools.wraps(handler)
    def run(event):
        try:
            handler(event)
        except DatabaseError:
            raise
        except Exception:
            logger.exception("analytics: %s for %s failed", handler.__name__, event.name)

    return run


def register() -> None:
    mongo.connect()  # registers only; the client is created on first use (fork-safe)
    for event_type, handler in SUBSCRIPTIONS.items():
        events.subscribe(event_type, _guarded(handler))
    health.register_check("mongo", mongo.health_check)
    exports.register("analytics", export_section)
    user_admin.register_user_panel("analytics_week", "this week", admin.week_summary_html, section="Analytics")
