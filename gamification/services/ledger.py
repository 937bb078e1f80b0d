"""The ledger: `award()` is the only way points and XP move; `reverse()` compensates an entry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from gamification import leaderboards, notices, rules
from gamification.events import LevelUp, PointsAwarded
from gamification.models import GamificationProfile, LedgerEntry
from gamification.services.profiles import lock_profile
from kernel import events, tracing
from kernel.commit import after_commit

SOURCES = ("task", "challenge", "badge", "reversal", "admin", "integration")


@dataclass
class AwardResult:
    entry: LedgerEntry
    created: bool
    level_change: tuple[int, int] | None
    profile: GamificationProfile


def award(
    user,
    *,
    points: int,
    xp: int,
    reason: str,
    source: str,
    idempotency_key: str,
    breakdown=None,
    source_id: str = "",
    occurred_at: datetime | None = None,
    reverses: LedgerEntry | None = None,
    profile: GamificationProfile | None = None,
) -> AwardResult:
    """Add one ledger row and move the user's totals, once per `idempotency_key`.

    Pass `profile` when the caller already holds the row lock (it is saved here)."""
    if isinstance(points, bool) or not isinstance(points, int) or isinstance(xp, bool) or not isinstance(xp, int):
        raise TypeError("points and xp must be integers")
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    if not idempotency_key:
        raise ValueError("an idempotency key is required")
    with tracing.span("gamification.award", **{"gamification.source": source, "gamification.points": points}):
        return _award(user, points=points, xp=xp, reason=reason, source=source, idempotency_key=idempotency_key,
                      breakdown=breakdown, source_id=source_id, occurred_at=occurred_at, reverses=reverses,
                      profile=profile)


def _award(user, *, points, xp, reason, source, idempotency_key, breakdown, source_id, occurred_at, reverses,
           profile) -> AwardResult:
    with transaction.atomic(savepoint=False):
        profile = profile if profile is not None else lock_profile(user)
        existing = LedgerEntry.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            if existing.user_id != user.pk:
                raise ValueError("idempotency key already used by another user")
            return AwardResult(existing, False, None, profile)
        entry = LedgerEntry.objects.create(
            user=user,
            points=points,
            xp=xp,
            reason=reason[:200],
            source=source,
            source_id=str(source_id or ""),
            idempotency_key=idempotency_key,
            breakdown=breakdown if breakdown is not None else [{"reason": reason, "amount": points}],
            occurred_at=occurred_at or timezone.now(),
            reverses=reverses,
        )
        before_xp = profile.xp
        profile.points += points
        profile.xp += xp
        profile.level = rules.level_for_xp(profile.xp).level
        profile.save()
        change = rules.level_change(before_xp, profile.xp)
        events.emit(PointsAwarded(user=user, entry=entry, total_points=profile.points))
        if change and change[1] > change[0]:
            events.emit(LevelUp(user=user, from_level=change[0], to_level=change[1]))
            after_commit(notices.level_reached, user, change[0], change[1])
    leaderboards.queue(user.pk, points, entry.occurred_at, entry.pk)
    return AwardResult(entry, True, change, profile)


def reverse(entry: LedgerEntry, *, reason: str = "reversal", profile: GamificationProfile | None = None) -> AwardResult:
    """Compensate an entry (once): the same points and XP, negated, on its original period."""
    if entry.reverses_id is not None:
        raise ValueError("a reversal cannot be reversed; award again instead")
    return award(
        entry.user,
        points=-entry.points,
        xp=-entry.xp,
        reason=reason,
        source="reversal",
        source_id=entry.pk,
        idempotency_key=f"reverse:{entry.pk}",
        breakdown=[{"reason": reason, "amount": -entry.points}],
        occurred_at=entry.occurred_at,
        reverses=entry,
        profile=profile,
    )
