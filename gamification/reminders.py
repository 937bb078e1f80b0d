"""The streak-at-risk reminder: in a user's local evening, if their daily streak is alive but
nothing was completed today (their day, their time zone), remind them once.

Run hourly by beat (`gamification.streak_at_risk`, every 3600 s). Any 60-minute window, so
each zone's local REMINDER_HOUR (also in the :30 and :45 zones), holds exactly one run; the
dedupe key `streak:<local date>` makes an extra run in the same evening a no-op.
"""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Q
from django.utils import timezone

from gamification import rules
from gamification.models import GamificationProfile
from notifications import services as notifications

logger = logging.getLogger(__name__)

REMINDER_HOUR = 20  # 20:00-20:59 local time
BATCH = 500


def evening_zones(now: datetime, zones) -> dict[str, object]:
    """{zone name: local date} for the zones where it is REMINDER_HOUR now."""
    out = {}
    for name in zones:
        try:
            local = now.astimezone(ZoneInfo(name or "UTC"))
        except (ZoneInfoNotFoundError, ValueError):
            continue
        if local.hour == REMINDER_HOUR:
            out[name] = local.date()
    return out


def send_streak_at_risk_reminders(now: datetime | None = None) -> int:
    """Returns how many reminders were created."""
    now = now or timezone.now()
    alive = GamificationProfile.objects.filter(daily_current__gte=1, user__is_active=True)
    zones = alive.order_by().values_list("user__timezone", flat=True).distinct()
    sent = 0
    for zone, today in evening_zones(now, list(zones)).items():
        profiles = (
            alive.filter(user__timezone=zone)
            .filter(Q(daily_last_date__lt=today) | Q(daily_last_date__isnull=True))
            .select_related("user")
            .order_by("pk")
        )
        for profile in profiles.iterator(chunk_size=BATCH):
            streak = rules.daily_as_of(profile.daily, today)
            if streak.current < 1:
                continue  # already broken: nothing to save
            freezes = (
                f" You have {streak.freezes} freeze{'s' if streak.freezes != 1 else ''} left." if streak.freezes else ""
            )
            notification = notifications.notify(
                profile.user,
                notifications.NotificationType.STREAK_AT_RISK,
                f"Your {streak.current}-day streak is at risk",
                f"Complete a task before midnight to keep your {streak.current}-day streak going.{freezes}",
                data={"streak": streak.current, "date": today.isoformat(), "freezes": streak.freezes},
                priority=notifications.Priority.HIGH,
                dedupe_key=f"streak:{today.isoformat()}",
            )
            if notification is not None and notification.created_now:
                sent += 1
    return sent
