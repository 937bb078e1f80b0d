"""Domain events emitted by the gamification app (see kernel.events)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from kernel.events import Event

if TYPE_CHECKING:
    from accounts.models import User
    from gamification.models import Badge, LedgerEntry, UserBadge


@dataclass(frozen=True, kw_only=True)
class PointsAwarded(Event):
    """Inside the awarding transaction, once per new ledger row (a reversal too: negative
    points). A repeated idempotency key emits nothing. `entry` is the immutable ledger row
    (points, xp, reason, source, occurred_at, idempotency_key); `total_points` the user's new
    total."""

    name: ClassVar[str] = "points.awarded"
    user: User
    entry: LedgerEntry
    total_points: int


@dataclass(frozen=True, kw_only=True)
class LevelUp(Event):
    """Inside the awarding transaction when an award raises the level; one event even when
    several levels are crossed at once (`to_level - from_level` may be > 1)."""

    name: ClassVar[str] = "level.up"
    user: User
    from_level: int
    to_level: int


@dataclass(frozen=True, kw_only=True)
class BadgeAwarded(Event):
    """Inside the awarding transaction, once per (user, badge); its points are already in the
    ledger (`user_badge.ledger_entry`)."""

    name: ClassVar[str] = "badge.awarded"
    user: User
    badge: Badge
    user_badge: UserBadge


@dataclass(frozen=True, kw_only=True)
class StreakChanged(Event):
    """Inside the transaction that moved a streak: a completion, a reopen, a freeze spent or a
    streak broken (on read or by the beat job). `daily` is {current, longest, last_date (ISO
    date | None), freezes}, `weekly` {current, longest}, `previous` {daily, weekly}."""

    name: ClassVar[str] = "streak.changed"
    user: User
    daily: dict
    weekly: dict
    previous: dict

