"""Pure analytics rules: local-time arithmetic, how one event changes a day's counters, the
periods of the API, and the insight rules with their thresholds. No ORM, no MongoDB.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# ---------------------------------------------------------------------------------------------
# Time zones and local days
# ---------------------------------------------------------------------------------------------

MAX_DAYS = 365  # `?days=N` accepts 1..MAX_DAYS
DEFAULT_DAYS = 30
PERIODS = ("day", "week", "month")


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_fields(instant: datetime, tz: ZoneInfo) -> dict:
    """The local calendar fields of a UTC instant in `tz`, as stored on an Event."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    local = instant.astimezone(tz)
    return {"day": local.date().isoformat(), "hour": local.hour, "weekday": local.weekday()}


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant at which `day` starts in `tz`."""
    return datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC)


def today(tz: ZoneInfo, now: datetime) -> date:
    return now.astimezone(tz).date()


def days_range(days: int, tz: ZoneInfo, now: datetime) -> tuple[str, str]:
    """`?days=N`: the N local days ending today (today included), as inclusive YYYY-MM-DD bounds."""
    end = today(tz, now)
    return (end - timedelta(days=days - 1)).isoformat(), end.isoformat()


def period_range(period: str, tz: ZoneInfo, now: datetime) -> tuple[str, str]:
    """`stats?period=`: day = today; week = the 7 local days ending today; month = the days after
    the same date one calendar month ago, up to today (the original's `now - 1 month`)."""
    end = today(tz, now)
    if period == "day":
        start = end
    elif period == "week":
        start = end - timedelta(days=6)
    elif period == "month":
        year, month = (end.year, end.month - 1) if end.month > 1 else (end.year - 1, 12)
        start = date(year, month, min(end.day, calendar.monthrange(year, month)[1])) + timedelta(days=1)
    else:
        raise ValueError(period)
    return start.isoformat(), end.isoformat()


# ---------------------------------------------------------------------------------------------
# Rollup counters
# ---------------------------------------------------------------------------------------------

# Every DailyStat starts with these counters; events only ever `$inc` them.
ZERO_METRICS = {
    "tasks_completed": 0,
    "tasks_created": 0,
    "challenges_completed": 0,
    "time_spent": 0,  # minutes: task actual durations + challenge completion times
    "task_minutes": 0,  # minutes of tasks that reported an actual duration ...
    "timed_tasks": 0,  # ... and how many they were (mean task length, for break_timing)
    "efficiency_sum": 0.0,
    "efficiency_count": 0,
    "points_earned": 0,
    "xp_earned": 0,
    "badges_earned": 0,
    "challenge_score_sum": 0.0,
    "challenge_score_count": 0,
    "tasks_by_type": {},
    "challenges_by_type": {},
    "hours": {},  # local hour ("0".."23") -> completions (tasks + challenges)
}


def safe_key(value) -> str:
    """A value usable as a MongoDB field name (no dots, no leading `$`)."""
    text = str(value if value not in (None, "") else "unknown").replace(".", "_")
    return text.lstrip("$") or "unknown"


def _number(value) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def completion_delta(data: dict, hour: int) -> dict:
    """The counters a task completion adds to its local day."""
    delta = {"tasks_completed": 1, f"tasks_by_type.{safe_key(data.get('task_type'))}": 1, f"hours.{hour}": 1}
    duration = _number(data.get("actual_duration"))
    if duration:
        delta["time_spent"] = delta["task_minutes"] = int(round(duration))
        delta["timed_tasks"] = 1
    efficiency = _number(data.get("efficiency"))
    if efficiency is not None:
        delta["efficiency_sum"] = efficiency
        delta["efficiency_count"] = 1
    return delta


def rollup_delta(record: dict) -> tuple[str, dict]:
    """(day, {dotted counter path: increment}) for one event record (see services.build_record).

    A reopen reverses the completion it undoes, on the day that completion was counted, so a
    completed-then-reopened task leaves the rollups exactly as if it had never completed, which
    is what a rebuild from the relational truth sees."""
    kind, data, day, hour = record["type"], record.get("data") or {}, record["day"], record["hour"]
    if kind == "task.created":
        return day, {"tasks_created": 1}
    if kind == "task.completed":
        return day, completion_delta(data, hour)
    if kind == "task.reopened":
        reverses = data.get("reverses") or {}
        if not reverses.get("day"):
            return day, {}
        delta = completion_delta(reverses.get("data") or {}, reverses["hour"])
        return reverses["day"], {key: -value for key, value in delta.items()}
    if kind == "challenge.completed":
        delta = {
            "challenges_completed": 1,
            f"challenges_by_type.{safe_key(data.get('challenge_type'))}": 1,
            f"hours.{hour}": 1,
        }
        minutes = _number(data.get("completion_minutes"))
        if minutes:
            delta["time_spent"] = int(round(minutes))
        score = _number(data.get("score"))
        if score is not None:
            delta["challenge_score_sum"] = score
            delta["challenge_score_count"] = 1
        return day, delta
    if kind == "points.awarded":
        delta = {}
        points, xp = _number(data.get("points")), _number(data.get("xp"))
        if points:
            delta["points_earned"] = int(points)
        if xp:
            delta["xp_earned"] = int(xp)
        return day, delta
    if kind == "badge.awarded":
        return day, {"badges_earned": 1}
    return day, {}


def add_delta(metrics: dict, delta: dict) -> dict:
    """Apply a delta to a metrics dict in memory, exactly as MongoDB's `$inc` would (for rebuild)."""
    for path, value in delta.items():
        head, _, tail = path.partition(".")
        if tail:
            bucket = metrics.setdefault(head, {})
            bucket[tail] = bucket.get(tail, 0) + value
        else:
            metrics[head] = metrics.get(head, 0) + value
    return metrics


def zero_metrics() -> dict:
    return {key: (dict(value) if isinstance(value, dict) else value) for key, value in ZERO_METRICS.items()}


def average(total, count) -> float | None:
    return round(total / count, 1) if count else None


def peak_hour(hours: dict) -> int | None:
    """The local hour with most completions (the earliest on a tie), or None for an idle day."""
    best = None
    for hour, count in sorted(((int(h), c) for h, c in (hours or {}).items()), key=lambda x: x[0]):
        if count > 0 and (best is None or count > best[1]):
            best = (hour, count)
    return best[0] if best else None


def public_map(values: dict) -> dict:
    """Drop zero entries (left behind by reopened tasks) from a by-type map."""
    return {key: value for key, value in sorted((values or {}).items()) if value}


# ---------------------------------------------------------------------------------------------
# Insights: each rule takes plain numbers and returns an insight dict or None.
# Thresholds are constants here so they are easy to find, argue about and change.
# ---------------------------------------------------------------------------------------------

INSIGHT_TYPES = (
    "efficiency_trend",
    "peak_hours",
    "task_type_preference",
    "challenge_performance",
    "streak_suggestion",
    "break_timing",
)

# efficiency_trend: mean efficiency of the last 7 local days vs the 7 before, each window with at
# least EFFICIENCY_MIN_SAMPLES efficiency-bearing completions; a change of at least
# EFFICIENCY_MIN_CHANGE points is worth saying (a drop is high priority).
EFFICIENCY_WINDOW_DAYS = 7
EFFICIENCY_MIN_SAMPLES = 3
EFFICIENCY_MIN_CHANGE = 10.0

# peak_hours: over the last 28 days, with at least PEAK_MIN_COMPLETIONS completions, the best
# two-hour window must hold at least PEAK_MIN_SHARE of them.
PEAK_WINDOW_DAYS = 28
PEAK_MIN_COMPLETIONS = 10
PEAK_MIN_SHARE = 0.30

# task_type_preference: over the last 28 days, with at least TYPE_MIN_TASKS completed tasks,
# one type must account for at least TYPE_MIN_SHARE of them.
TYPE_WINDOW_DAYS = 28
TYPE_MIN_TASKS = 10
TYPE_MIN_SHARE = 0.50

# challenge_performance: over the last 28 days, at least CHALLENGE_MIN_COUNT scored challenges;
# a mean score >= CHALLENGE_HIGH_SCORE suggests harder ones, <= CHALLENGE_LOW_SCORE easier ones.
CHALLENGE_WINDOW_DAYS = 28
CHALLENGE_MIN_COUNT = 3
CHALLENGE_HIGH_SCORE = 85.0
CHALLENGE_LOW_SCORE = 50.0

# streak_suggestion: a run of at least STREAK_MIN_DAYS active days ending yesterday, with nothing
# done yet today, is at risk; otherwise fewer than STREAK_SPARSE_DAYS active days out of the last 7
# (but at least one) suggests building a habit.
STREAK_MIN_DAYS = 2
STREAK_SPARSE_DAYS = 4

# break_timing: over the last 14 days, at least BREAK_MIN_TASKS tasks with a duration, and either a
# mean task duration >= BREAK_LONG_TASK_MINUTES or BREAK_HEAVY_DAYS days of >= BREAK_HEAVY_DAY_MINUTES.
BREAK_WINDOW_DAYS = 14
BREAK_MIN_TASKS = 3
BREAK_LONG_TASK_MINUTES = 90
BREAK_HEAVY_DAY_MINUTES = 240
BREAK_HEAVY_DAYS = 3


def _insight(kind: str, message: str, data: dict, priority: str = "medium") -> dict:
    return {"type": kind, "message": message, "data": data, "priority": priority}


def efficiency_trend(recent_sum, recent_count, previous_sum, previous_count) -> dict | None:
    if recent_count < EFFICIENCY_MIN_SAMPLES or previous_count < EFFICIENCY_MIN_SAMPLES:
        return None
    recent, previous = recent_sum / recent_count, previous_sum / previous_count
    change = recent - previous
    if abs(change) < EFFICIENCY_MIN_CHANGE:
        return None
    data = {"recent": round(recent, 1), "previous": round(previous, 1), "change": round(change, 1)}
    if change > 0:
        return _insight(
            "efficiency_trend",
            f"Your efficiency rose from {previous:.0f}% to {recent:.0f}% this week. Keep it up!",
            data,
            "low",
        )
    return _insight(
        "efficiency_trend",
        f"Your efficiency dropped from {previous:.0f}% to {recent:.0f}% this week; "
        "try smaller tasks or better estimates.",
        data,
        "high",
    )


def peak_hours(hour_counts: dict[int, int]) -> dict | None:
    total = sum(hour_counts.values())
    if total < PEAK_MIN_COMPLETIONS:
        return None
    start, best = max(
        ((h, hour_counts.get(h, 0) + hour_counts.get((h + 1) % 24, 0)) for h in range(24)),
        key=lambda item: (item[1], -item[0]),
    )
    share = best / total
    if share < PEAK_MIN_SHARE:
        return None
    end = (start + 2) % 24
    return _insight(
        "peak_hours",
        f"You get the most done between {start:02d}:00 and {end:02d}:00; schedule demanding work then.",
        {"startHour": start, "endHour": end, "share": round(share, 2), "completions": total},
        "medium",
    )


def task_type_preference(type_counts: dict[str, int]) -> dict | None:
    total = sum(type_counts.values())
    if total < TYPE_MIN_TASKS:
        return None
    kind, count = max(sorted(type_counts.items()), key=lambda item: item[1])
    share = count / total
    if share < TYPE_MIN_SHARE:
        return None
    return _insight(
        "task_type_preference",
        f"{share:.0%} of the tasks you completed recently were '{kind}' tasks.",
        {"type": kind, "share": round(share, 2), "tasks": total},
        "low",
    )


def challenge_performance(score_sum, score_count) -> dict | None:
    if score_count < CHALLENGE_MIN_COUNT:
        return None
    mean = score_sum / score_count
    data = {"averageScore": round(mean, 1), "challenges": score_count}
    if mean >= CHALLENGE_HIGH_SCORE:
        return _insight(
            "challenge_performance",
            f"You average {mean:.0f} on challenges; try a harder difficulty.",
            {**data, "suggestedDifficulty": "harder"},
            "medium",
        )
    if mean <= CHALLENGE_LOW_SCORE:
        return _insight(
            "challenge_performance",
            f"You average {mean:.0f} on challenges; an easier difficulty may keep you going.",
            {**data, "suggestedDifficulty": "easier"},
            "medium",
        )
    return None


def streak_suggestion(active_days: set[str], today_: date) -> dict | None:
    """`active_days`: local days (YYYY-MM-DD) with at least one completion."""
    run, cursor = 0, today_ - timedelta(days=1)
    while cursor.isoformat() in active_days:
        run += 1
        cursor -= timedelta(days=1)
    if today_.isoformat() not in active_days and run >= STREAK_MIN_DAYS:
        return _insight(
            "streak_suggestion",
            f"Complete one task today to keep your {run}-day streak alive.",
            {"streak": run},
            "high",
        )
    last_week = sum(1 for n in range(7) if (today_ - timedelta(days=n)).isoformat() in active_days)
    if 0 < last_week < STREAK_SPARSE_DAYS:
        return _insight(
            "streak_suggestion",
            f"You were active on {last_week} of the last 7 days; a small task every day builds a streak.",
            {"activeDays": last_week},
            "low",
        )
    return None


def break_timing(task_minutes_sum, task_count, heavy_days: int) -> dict | None:
    if task_count < BREAK_MIN_TASKS:
        return None
    mean = task_minutes_sum / task_count
    if mean >= BREAK_LONG_TASK_MINUTES:
        return _insight(
            "break_timing",
            f"Your tasks take {mean:.0f} minutes on average; a 10-minute break every 50 minutes helps focus.",
            {"averageTaskMinutes": round(mean, 1), "heavyDays": heavy_days},
            "medium",
        )
    if heavy_days >= BREAK_HEAVY_DAYS:
        return _insight(
            "break_timing",
            f"You logged over {BREAK_HEAVY_DAY_MINUTES // 60} hours on {heavy_days} days recently; plan real breaks.",
            {"averageTaskMinutes": round(mean, 1), "heavyDays": heavy_days},
            "medium",
        )
    return None
