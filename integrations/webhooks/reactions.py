"""What each domain event becomes for webhooks. Subscribed WITHOUT after_commit (in
integrations.handlers): each runs inside the transaction that made the change, serialises the
resource as it stands there (the state that commits) and records the event with its
deliveries, so a rolled-back change sends nothing and a committed one loses nothing."""

from __future__ import annotations

from challenges import selectors as challenge_selectors
from challenges.events import ChallengeCompleted, ChallengeGenerated
from gamification.events import BadgeAwarded, LevelUp, StreakChanged
from integrations.webhooks import services
from kernel.api.casing import camelize
from kernel.api.times import iso_utc
from kernel.versioning import refresh_version
from tasks import selectors as task_selectors
from tasks.events import TaskCompleted, TaskCreated, TaskDeleted, TaskReopened, TaskUpdated


def _task(task) -> dict:
    # The database moves `version` on every write (a trigger): read the one this write gave it,
    # so the payload is the resource as a GET after the commit shows it.
    refresh_version(task)
    return task_selectors.as_wire_rows([task])[0]


def on_task_created(event: TaskCreated) -> None:
    services.record(event.user, "task.created", lambda: _task(event.task))


def on_task_updated(event: TaskUpdated) -> None:
    services.record(event.user, "task.updated", lambda: _task(event.task))


def on_task_reopened(event: TaskReopened) -> None:
    if event.source == "update":
        return  # the update that reopened it emits task.updated with its final state
    services.record(event.user, "task.updated", lambda: _task(event.task))


def on_task_completed(event: TaskCompleted) -> None:
    services.record(event.user, "task.completed", lambda: _task(event.task))


def on_task_deleted(event: TaskDeleted) -> None:
    services.record(event.user, "task.deleted", lambda: _task(event.task))


def _challenge(challenge) -> dict:
    return camelize(challenge_selectors.as_wire(challenge))


def on_challenge_generated(event: ChallengeGenerated) -> None:
    services.record(event.user, "challenge.generated", lambda: _challenge(event.challenge))


def on_challenge_completed(event: ChallengeCompleted) -> None:
    services.record(event.user, "challenge.completed", lambda: _challenge(event.challenge))


def _badge(event: BadgeAwarded) -> dict:
    badge = event.badge
    return {
        "_id": badge.pk, "id": badge.pk, "slug": badge.slug, "name": badge.name, "icon": badge.icon,
        "description": badge.description, "category": badge.category, "rarity": badge.rarity,
        "points": badge.points, "earnedAt": iso_utc(event.user_badge.earned_at),
    }


def on_badge_awarded(event: BadgeAwarded) -> None:
    services.record(event.user, "badge.awarded", lambda: _badge(event))


def on_level_up(event: LevelUp) -> None:
    services.record(event.user, "level.up", lambda: {"fromLevel": event.from_level, "toLevel": event.to_level})


def on_streak_changed(event: StreakChanged) -> None:
    services.record(
        event.user, "streak.updated",
        lambda: camelize({"daily": event.daily, "weekly": event.weekly, "previous": event.previous}),
    )


SUBSCRIPTIONS = {
    TaskCreated: on_task_created,
    TaskUpdated: on_task_updated,
    TaskReopened: on_task_reopened,
    TaskCompleted: on_task_completed,
    TaskDeleted: on_task_deleted,
    ChallengeGenerated: on_challenge_generated,
    ChallengeCompleted: on_challenge_completed,
    BadgeAwarded: on_badge_awarded,
    LevelUp: on_level_up,
    StreakChanged: on_streak_changed,
}
