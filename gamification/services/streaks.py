"""Stored streaks: set them (emitting `streak.changed`), compute them from recorded completions,
and catch them up with the calendar (on the user's next award and in the hourly beat job)."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Q

from gamification import rules
from gamification.events import StreakChanged
from gamification.models import Activity, GamificationProfile
from gamification.services.profiles import get_or_create_profile, lock_profile, today_of
from kernel import events


def _streak_payload(profile: GamificationProfile) -> dict:
    return {
        "daily": {
            "current": profile.daily_current,
            "longest": profile.daily_longest,
            "last_date": profile.daily_last_date.isoformat() if profile.daily_last_date else None,
            "freezes": profile.freezes,
        },
        "weekly": {"current": profile.weekly_current, "longest": profile.weekly_longest},
    }


def set_streaks(user, profile, daily: rules.DailyStreak, weekly: rules.WeeklyStreak) -> bool:
    """Store new streak states; emit `streak.changed` when anything visible moved."""
    before = (profile.daily, profile.weekly)
    profile.daily, profile.weekly = daily, weekly
    if before == (profile.daily, profile.weekly):
        return False
    visible_before = (before[0].current, before[0].longest, before[0].freezes, before[1].current, before[1].longest)
    visible_after = (daily.current, daily.longest, daily.freezes, weekly.current, weekly.longest)
    if visible_before != visible_after:
        events.emit(
            StreakChanged(
                user=user,
                previous={"daily": before[0].current, "weekly": before[1].current},
                **_streak_payload(profile),
            )
        )
    return True


def catch_up_streaks(user, *, now: datetime | None = None) -> GamificationProfile:
    """Bring the stored streaks up to the user's today (spend freezes, break streaks), so a
    profile never shows a stale streak. Writes only when something changed."""
    profile = get_or_create_profile(user)
    today = today_of(user, now)
    daily, weekly = rules.daily_as_of(profile.daily, today), rules.weekly_as_of(profile.weekly, today)
    if (daily, weekly) == (profile.daily, profile.weekly):
        return profile
    with transaction.atomic():
        profile = lock_profile(user)
        daily, weekly = rules.daily_as_of(profile.daily, today), rules.weekly_as_of(profile.weekly, today)
        if set_streaks(user, profile, daily, weekly):
            profile.save()
    return profile


def catch_up_all_streaks(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """The beat job: normalize every live streak. Returns how many profiles changed."""
    changed = 0
    qs = GamificationProfile.objects.filter(Q(daily_current__gt=0) | Q(weekly_current__gt=0)).select_related("user")
    for profile in qs.iterator(chunk_size=batch_size):
        today = today_of(profile.user, now)
        if (rules.daily_as_of(profile.daily, today), rules.weekly_as_of(profile.weekly, today)) != (
            profile.daily,
            profile.weekly,
        ):
            catch_up_streaks(profile.user, now=now)
            changed += 1
    return changed


def _active_task_days(user) -> list:
    return list(
        Activity.objects.filter(user=user, kind="task.completed", reversed=False)
        .values_list("local_date", flat=True)
        .distinct()
    )


def streaks_now(user, now=None) -> tuple[rules.DailyStreak, rules.WeeklyStreak]:
    """The user's streaks from every recorded completion, as the rebuild computes them."""
    return rules.streaks_from_days(_active_task_days(user), today_of(user, now))
