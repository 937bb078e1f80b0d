"""Insights: computed on demand (`GET /api/analytics/insights`) and by the nightly beat job,
stored on the user's DailyStat of that local day (so `GET /api/analytics?days=N` rows carry
them), and once a week summarised in a notification.

The rules and their thresholds are in analytics/rules.py (pure functions); this module only
gathers their inputs from the rollups.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from analytics import rules, selectors, services
from kernel.api.times import iso_utc
from notifications.models import NotificationType
from notifications.services import notify

logger = logging.getLogger(__name__)

WEEKLY_NOTIFICATION_WEEKDAY = 0  # the summary of the past week goes out on the user's Monday night
NIGHTLY_LOCAL_HOUR = 2  # the hourly beat job handles each user when it is 02:xx for them
PRIORITY_ORDER = {"high": 0, "medium": 1, "low": 2}


def _window(days: list[dict], first: str, last: str) -> list[dict]:
    return [d for d in days if first <= d["day"] <= last]


def _sum(days: list[dict], field: str):
    return sum((d.get("metrics") or {}).get(field, 0) or 0 for d in days)


def _sum_maps(days: list[dict], field: str) -> dict:
    out: dict = {}
    for d in days:
        for key, value in ((d.get("metrics") or {}).get(field) or {}).items():
            out[key] = out.get(key, 0) + value
    return {k: v for k, v in out.items() if v}


def compute(user, now: datetime | None = None) -> list[dict]:
    """The insights that apply to the user now, most important first."""
    now = now or timezone.now()
    tz = rules.zone(getattr(user, "timezone", None))
    today = rules.today(tz, now)
    iso = today.isoformat()

    def ago(n):
        return (today - timedelta(days=n)).isoformat()

    days = selectors.recent_days(user, now)
    found = []

    recent = _window(days, ago(rules.EFFICIENCY_WINDOW_DAYS - 1), iso)
    previous = _window(days, ago(2 * rules.EFFICIENCY_WINDOW_DAYS - 1), ago(rules.EFFICIENCY_WINDOW_DAYS))
    found.append(
        rules.efficiency_trend(
            _sum(recent, "efficiency_sum"),
            _sum(recent, "efficiency_count"),
            _sum(previous, "efficiency_sum"),
            _sum(previous, "efficiency_count"),
        )
    )

    peak_days = _window(days, ago(rules.PEAK_WINDOW_DAYS - 1), iso)
    found.append(rules.peak_hours({int(h): n for h, n in _sum_maps(peak_days, "hours").items()}))

    found.append(
        rules.task_type_preference(_sum_maps(_window(days, ago(rules.TYPE_WINDOW_DAYS - 1), iso), "tasks_by_type"))
    )

    challenge_days = _window(days, ago(rules.CHALLENGE_WINDOW_DAYS - 1), iso)
    found.append(
        rules.challenge_performance(
            _sum(challenge_days, "challenge_score_sum"), _sum(challenge_days, "challenge_score_count")
        )
    )

    active = {
        d["day"]
        for d in days
        if (d.get("metrics") or {}).get("tasks_completed", 0) + (d.get("metrics") or {}).get("challenges_completed", 0)
        > 0
    }
    found.append(rules.streak_suggestion(active, today))

    break_days = _window(days, ago(rules.BREAK_WINDOW_DAYS - 1), iso)
    heavy = sum(1 for d in break_days if (d.get("metrics") or {}).get("time_spent", 0) >= rules.BREAK_HEAVY_DAY_MINUTES)
    found.append(rules.break_timing(_sum(break_days, "task_minutes"), _sum(break_days, "timed_tasks"), heavy))

    insights = [i for i in found if i]
    insights.sort(key=lambda i: PRIORITY_ORDER.get(i["priority"], 1))
    return insights


def refresh(user, now: datetime | None = None) -> list[dict]:
    """Compute the user's insights and store them on today's (local) rollup."""
    now = now or timezone.now()
    insights = compute(user, now)
    tz = rules.zone(getattr(user, "timezone", None))
    generated_at = iso_utc(now)
    stored = [{**i, "generated_at": generated_at} for i in insights]
    services.store_insights(user, rules.today(tz, now).isoformat(), stored)
    return stored


def weekly_summary(user, now: datetime) -> dict:
    """Numbers for the weekly notification: the 7 local days ending yesterday."""
    tz = rules.zone(getattr(user, "timezone", None))
    yesterday = rules.today(tz, now) - timedelta(days=1)
    start = (yesterday - timedelta(days=6)).isoformat()
    days = _window(selectors.recent_days(user, now, days=8), start, yesterday.isoformat())
    return {
        "start": start,
        "end": yesterday.isoformat(),
        "tasks_completed": _sum(days, "tasks_completed"),
        "challenges_completed": _sum(days, "challenges_completed"),
        "points_earned": _sum(days, "points_earned"),
        "time_spent": _sum(days, "time_spent"),
        "average_efficiency": rules.average(_sum(days, "efficiency_sum"), _sum(days, "efficiency_count")),
    }


def send_weekly(user, insights: list[dict], now: datetime) -> bool:
    """Send the weekly insight notification once per user per local Monday."""
    tz = rules.zone(getattr(user, "timezone", None))
    today = rules.today(tz, now)
    if today.weekday() != WEEKLY_NOTIFICATION_WEEKDAY:
        return False
    if not services.claim_weekly_notification(user, today.isoformat()):
        return False
    summary = weekly_summary(user, now)
    headline = insights[0]["message"] if insights else "Keep going: every completed task counts."
    message = (
        f"Last week: {summary['tasks_completed']} tasks, {summary['challenges_completed']} challenges, "
        f"{summary['points_earned']} points. {headline}"
    )[:500]
    notify(
        user,
        weekly_notification_type(),
        "Your week in review",
        message,
        data={"kind": "weekly_insight", "summary": summary, "insights": insights},
        dedupe_key=f"weekly_insight:{today.isoformat()}",
    )
    return True


def weekly_notification_type() -> str:
    """`weekly_insight` once the notifications app defines it; until then a `system` one."""
    return "weekly_insight" if "weekly_insight" in NotificationType.values else NotificationType.SYSTEM


def users_at_local_hour(now: datetime, hour: int = NIGHTLY_LOCAL_HOUR):
    """Active users for whom it is currently `hour`:xx local time."""
    User = get_user_model()
    zones = User.objects.filter(is_active=True).values_list("timezone", flat=True).distinct()
    due = [name for name in zones if now.astimezone(rules.zone(name)).hour == hour]
    if not due:
        return User.objects.none()
    return User.objects.filter(is_active=True, timezone__in=due).order_by("id")


def run_nightly(now: datetime | None = None, hour: int = NIGHTLY_LOCAL_HOUR) -> dict:
    """The beat job (hourly): refresh insights for every user whose local time is `hour`:xx, and
    send the weekly notification on their Monday. Safe to run twice: both writes are idempotent."""
    now = now or timezone.now()
    done = weekly = failed = 0
    for user in users_at_local_hour(now, hour).iterator(chunk_size=500):
        try:
            stored = refresh(user, now)
            weekly += int(send_weekly(user, stored, now))
            done += 1
        except Exception:  # one user's failure must not stop the others
            failed += 1
            logger.exception("analytics: nightly insights failed for user %s", user.id)
    return {"users": done, "weekly_notifications": weekly, "failed": failed}
