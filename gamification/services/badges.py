"""Badges: evaluation after recorded events, staff grants and revocations, each paid through
the ledger."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from gamification import notices, rules, selectors
from gamification.events import BadgeAwarded
from gamification.models import Activity, Badge, GamificationProfile, UserBadge
from gamification.services.ledger import award, reverse
from gamification.services.profiles import lock_profile
from kernel import events
from kernel.api.times import iso_utc
from kernel.commit import after_commit


def badge_fields(user_badge: UserBadge) -> dict:
    badge = user_badge.badge
    return {
        "id": badge.pk,
        "slug": badge.slug,
        "name": badge.name,
        "icon": badge.icon,
        "rarity": badge.rarity,
        "points": badge.points,
        "earned_at": iso_utc(user_badge.earned_at),
    }


def _grant(user, profile: GamificationProfile, badge: Badge, now: datetime) -> UserBadge:
    result = award(
        user,
        points=badge.points,
        xp=badge.points,
        reason=f"badge:{badge.slug}",
        source="badge",
        source_id=badge.pk,
        idempotency_key=f"badge:{user.pk}:{badge.pk}",
        profile=profile,
    )
    user_badge = UserBadge.objects.create(user=user, badge=badge, earned_at=now, ledger_entry=result.entry)
    profile.badges = [*profile.badges, badge_fields(user_badge)]
    profile.save(update_fields=["badges", "updated_at"])
    events.emit(BadgeAwarded(user=user, badge=badge, user_badge=user_badge))
    after_commit(notices.badge_earned, user, badge)
    return user_badge


def grant_badge(user, badge: Badge) -> tuple[UserBadge, str]:
    """Staff action: hand a badge out regardless of its criteria (points through the ledger,
    `badge.awarded`). Returns (award, outcome): "awarded", "already", or "revoked" (a revoked
    badge is not handed out again)."""
    with transaction.atomic():
        profile = lock_profile(user)
        existing = UserBadge.objects.filter(user=user, badge=badge).select_related("badge").first()
        if existing is not None:
            return existing, ("already" if existing.active else "revoked")
        return _grant(user, profile, badge, timezone.now()), "awarded"


def badge_summary(user_badge: UserBadge) -> dict:
    return {"_id": user_badge.badge_id, **badge_fields(user_badge)}


def evaluate_badges(user, profile: GamificationProfile | None = None, *, recorded: Activity | None = None) -> list[UserBadge]:
    """Award every active badge whose criteria the user now meets (badge points can unlock
    further badges, so this repeats until nothing new is earned). Runs under the profile lock:
    pass `profile` when the caller holds it (its transaction then carries the awards, so one
    commit makes one leaderboard pipeline).

    `recorded` is the event that prompted the check. Then an event-count badge is only counted
    if that event may be one it counts: any other's count has not moved since the check made
    when its last counted event was recorded, so its aggregate (the costliest query of a
    completion) is skipped. Without `recorded` every badge is checked (the user's own
    "check my badges", staff), which also catches a badge created after the events it counts."""
    if profile is None:
        with transaction.atomic():
            return _evaluate_badges(user, lock_profile(user), recorded)
    return _evaluate_badges(user, profile, recorded)


def _evaluate_badges(user, profile: GamificationProfile, recorded: Activity | None = None) -> list[UserBadge]:
    now = timezone.now()
    owned = UserBadge.objects.filter(user=user).values("badge_id")
    candidates = list(Badge.objects.filter(active=True).exclude(pk__in=owned))
    if recorded is not None:
        candidates = [
            b for b in candidates
            if b.criteria.get("type") != "event_count" or rules.may_count(b.criteria, recorded.kind, recorded.facts)
        ]
    if not candidates:
        return []
    counts = selectors.event_counts(user, candidates)
    awarded: list[UserBadge] = []
    while candidates:
        earned = []
        for badge in candidates:
            current, target = selectors.badge_progress(badge, profile, counts)
            if current >= target:
                earned.append(badge)
        if not earned:
            break
        for badge in earned:
            awarded.append(_grant(user, profile, badge, now))
            candidates.remove(badge)
    return awarded


def revoke_badge(user_badge: UserBadge, *, by=None, reason: str = "") -> UserBadge:
    """Staff action: take a badge back and reverse its points. A revoked badge is not awarded
    again by later evaluations."""
    with transaction.atomic():
        profile = lock_profile(user_badge.user)
        user_badge = (
            UserBadge.objects.select_for_update(of=("self",)).select_related("badge", "ledger_entry").get(pk=user_badge.pk)
        )
        if user_badge.revoked_at is not None:
            return user_badge
        if user_badge.ledger_entry is not None:
            reverse(user_badge.ledger_entry, reason=f"badge revoked:{user_badge.badge.slug}", profile=profile)
        user_badge.revoked_at = timezone.now()
        user_badge.revoked_by = by
        user_badge.revoke_reason = reason[:300]
        user_badge.save(update_fields=["revoked_at", "revoked_by", "revoke_reason", "updated_at"])
        profile.badges = [b for b in profile.badges if b.get("id") != user_badge.badge_id]
        profile.save(update_fields=["badges", "updated_at"])
    return user_badge
