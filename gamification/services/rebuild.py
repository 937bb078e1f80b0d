"""Rebuild from the ledger: recompute totals, level, stats, streaks and badge lists from the
ledger and the recorded activities, reporting (and fixing) drift."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from gamification import leaderboards, rules
from gamification.models import Activity, GamificationProfile, LedgerEntry, UserBadge
from gamification.services.badges import badge_fields
from gamification.services.profiles import lock_profile, today_of


def rebuild_user(user, *, write: bool = True, now: datetime | None = None) -> list[str]:
    """Recompute a user's totals, level, stats, streaks and badge list from the ledger and the
    recorded activities; return one line per drifting value (and fix it when `write`)."""
    now = now or timezone.now()
    drift: list[str] = []
    with transaction.atomic():
        profile = lock_profile(user)
        sums = LedgerEntry.objects.filter(user=user).aggregate(points=Sum("points"), xp=Sum("xp"))
        points, xp = int(sums["points"] or 0), int(sums["xp"] or 0)
        activities = list(Activity.objects.filter(user=user, reversed=False).only("kind", "facts", "local_date"))
        tasks = [a for a in activities if a.kind == "task.completed"]
        efficiencies = [float(a.facts["efficiency"]) for a in tasks if a.facts.get("efficiency") is not None]
        today = today_of(user, now)
        daily, weekly = rules.streaks_from_days((a.local_date for a in tasks), today)
        user_badges = list(UserBadge.objects.filter(user=user).select_related("badge", "ledger_entry__reversal"))
        for ub in user_badges:
            try:
                reversed_ = ub.ledger_entry is not None and ub.ledger_entry.reversal is not None
            except LedgerEntry.DoesNotExist:
                reversed_ = False
            if ub.active and (ub.ledger_entry is None or reversed_):
                drift.append(f"{user.pk} badge {ub.badge.slug}: earned but its points are missing or reversed")
            if not ub.active and ub.ledger_entry is not None and not reversed_:
                drift.append(f"{user.pk} badge {ub.badge.slug}: revoked but its points were not reversed")
        active_badges = sorted(
            (badge_fields(ub) for ub in user_badges if ub.active), key=lambda b: b["earned_at"]
        )
        expected = {
            "points": points,
            "xp": xp,
            "level": rules.level_for_xp(xp).level,
            "tasks_completed": len(tasks),
            "challenges_completed": sum(1 for a in activities if a.kind == "challenge.completed"),
            "total_time_spent": sum(int(a.facts.get("actual_duration") or 0) for a in tasks),
            "efficiency_count": len(efficiencies),
        }
        for name, value in expected.items():
            if getattr(profile, name) != value:
                drift.append(f"{user.pk} {name}: profile {getattr(profile, name)} != ledger {value}")
                setattr(profile, name, value)
        if abs(profile.efficiency_sum - sum(efficiencies)) > 1e-6:
            drift.append(f"{user.pk} efficiency_sum: profile {profile.efficiency_sum} != ledger {sum(efficiencies)}")
            profile.efficiency_sum = sum(efficiencies)
        if rules.daily_as_of(profile.daily, today) != daily:
            drift.append(f"{user.pk} daily streak: profile {profile.daily} != activities {daily}")
        if rules.weekly_as_of(profile.weekly, today) != weekly:
            drift.append(f"{user.pk} weekly streak: profile {profile.weekly} != activities {weekly}")
        profile.daily, profile.weekly = daily, weekly
        if sorted(b["id"] for b in profile.badges) != sorted(b["id"] for b in active_badges):
            drift.append(f"{user.pk} badges: profile lists {len(profile.badges)}, {len(active_badges)} are earned")
            profile.badges = active_badges
        if write and drift:
            profile.save()
        elif not write:
            transaction.set_rollback(True)
    return drift


def rebuild_all(*, write: bool = True, now: datetime | None = None) -> list[str]:
    User = get_user_model()
    ids = set(GamificationProfile.objects.values_list("user_id", flat=True)) | set(
        LedgerEntry.objects.values_list("user_id", flat=True).distinct()
    )
    drift: list[str] = []
    for user in User.objects.filter(pk__in=ids).order_by("pk").iterator(chunk_size=500):
        drift.extend(rebuild_user(user, write=write, now=now))
    drift.extend(leaderboards.rebuild(write=write, now=now))
    return drift
