"""Gamification rules: pure functions over plain values (no ORM, no clock, no I/O).

Every formula the engine applies lives here, with its constants at the top, so the rules can be
read in one place and tested by table (`gamification/tests/test_rules.py`). Services feed these
functions with values they load and persist what comes back.

Points and XP
    task:      base by priority, + efficiency bonus, + early bonus (finished before the due),
               then x a streak multiplier (+5% per consecutive day after the first, at most x1.5).
    challenge: pointsReward x bonusMultiplier, scaled by the score (or accuracy) between 50% and
               100%, minus 10% per hint used (at most 50%), plus 10%/20% for finishing inside
               75%/50% of the time limit.
    XP equals the points of an award (both live in the ledger, so they can diverge later).

Levels
    The original thresholds: 1000 XP from level 1 to 2, each next level x1.5 (floored) — but a
    level is a function of total XP, so one large award can cross several levels at once and a
    reversal can take a level back.

Streaks (in the user's local dates; the caller converts instants with the user's time zone)
    daily:  a day with at least one completed task. One freeze is earned per 7 consecutive days
            (at most 2 held); each missed day spends one automatically, and a gap longer than
            the freezes held breaks the streak. Frozen days keep a streak alive without adding
            to it.
    weekly: an ISO week (Monday-based, `YYYY-Www`) with at least one completed task.
    `streaks_from_days` (a fold over every completion day, then brought to today) is the
    definition, and the only computation the services use: on a completion, a reopen and in
    the rebuild command. `daily_add`/`weekly_add` are its steps.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, tzinfo

# ------------------------------------------------------------------------------------------------
# Constants
# ------------------------------------------------------------------------------------------------
TASK_BASE_POINTS = {"low": 50, "medium": 100, "high": 150, "urgent": 200}
# (minimum efficiency %, bonus points), best first.
EFFICIENCY_BONUSES = ((90, 25), (75, 10))
EARLY_BONUS = 25
STREAK_STEP = 0.05
STREAK_MAX_MULTIPLIER = 1.5

CHALLENGE_MIN_QUALITY_SHARE = 0.5  # a score of 0 still keeps half the reward
HINT_PENALTY = 0.10
HINT_PENALTY_MAX_HINTS = 5
# (maximum share of the time limit used, bonus share), fastest first.
SPEED_BONUSES = ((0.5, 0.20), (0.75, 0.10))
BONUS_MULTIPLIER_RANGE = (1.0, 3.0)

LEVEL_2_XP = 1000
LEVEL_GROWTH = 1.5

MAX_FREEZES = 2
FREEZE_EVERY_DAYS = 7

RARITY_POINTS = {"common": 50, "uncommon": 100, "rare": 200, "epic": 500, "legendary": 1000}


# ------------------------------------------------------------------------------------------------
# Awards
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Award:
    points: int
    xp: int
    breakdown: tuple[tuple[str, int], ...]

    def breakdown_list(self) -> list[dict]:
        return [{"reason": reason, "amount": amount} for reason, amount in self.breakdown]


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def streak_multiplier(streak_days: int) -> float:
    """x1.00 on the first day, +0.05 per consecutive day after it, at most x1.5."""
    return min(STREAK_MAX_MULTIPLIER, 1.0 + STREAK_STEP * max(0, streak_days - 1))


def finished_early(
    completed_at: datetime, due_date: datetime | None, *, due_date_only: bool = False, tz: tzinfo | None = None
) -> bool:
    """Finished before the due: an instant due must not be passed; a date-only due counts the
    whole calendar day it falls on in the user's time zone."""
    if due_date is None:
        return False
    if due_date_only:
        return completed_at.astimezone(tz).date() <= due_date.astimezone(tz).date()
    return completed_at <= due_date


def task_points(priority: str, *, efficiency: float | None, early: bool, streak_days: int) -> Award:
    """Points for one completed task. `efficiency` is a percentage (None when unknown: no bonus),
    `streak_days` the daily streak including this completion."""
    base = TASK_BASE_POINTS.get(priority, TASK_BASE_POINTS["medium"])
    parts: list[tuple[str, int]] = [(f"priority:{priority if priority in TASK_BASE_POINTS else 'medium'}", base)]
    if efficiency is not None:
        for threshold, bonus in EFFICIENCY_BONUSES:
            if efficiency >= threshold:
                parts.append((f"efficiency>={threshold}", bonus))
                break
    if early:
        parts.append(("early", EARLY_BONUS))
    subtotal = sum(amount for _, amount in parts)
    extra = math.floor(subtotal * (streak_multiplier(streak_days) - 1.0) + 1e-9)
    if extra:
        parts.append((f"streak:{streak_days}d", extra))
    total = sum(amount for _, amount in parts)
    return Award(points=total, xp=total, breakdown=tuple(parts))


def challenge_points(
    points_reward: int,
    bonus_multiplier: float = 1.0,
    *,
    score: float | None = None,
    accuracy: float | None = None,
    hints_used: int = 0,
    completion_seconds: float | None = None,
    time_limit_seconds: float | None = None,
) -> Award:
    """Points for one completed challenge. `score` and `accuracy` are percentages (0-100);
    the score wins when both are given; neither means full marks."""
    reward = max(0, int(points_reward or 0))
    multiplier = _clamp(float(bonus_multiplier or 1.0), *BONUS_MULTIPLIER_RANGE)
    base = math.floor(reward * multiplier + 1e-9)
    parts: list[tuple[str, int]] = [("challenge", reward)]
    if base != reward:
        parts.append((f"multiplier:x{multiplier:g}", base - reward))

    quality = score if score is not None else accuracy
    quality = 100.0 if quality is None else _clamp(float(quality), 0.0, 100.0)
    kept = math.floor(base * (CHALLENGE_MIN_QUALITY_SHARE + (1 - CHALLENGE_MIN_QUALITY_SHARE) * quality / 100) + 1e-9)
    if kept != base:
        parts.append((f"score:{quality:g}%", kept - base))

    hints = min(max(0, int(hints_used or 0)), HINT_PENALTY_MAX_HINTS)
    if hints:
        parts.append((f"hints:{hints}", -math.floor(kept * HINT_PENALTY * hints + 1e-9)))

    if completion_seconds is not None and time_limit_seconds and time_limit_seconds > 0 and completion_seconds >= 0:
        ratio = completion_seconds / time_limit_seconds
        for max_share, bonus in SPEED_BONUSES:
            if ratio <= max_share:
                parts.append((f"speed:<={int(max_share * 100)}%", math.floor(kept * bonus + 1e-9)))
                break
    total = max(0, sum(amount for _, amount in parts))
    return Award(points=total, xp=total, breakdown=tuple(parts))


def badge_points(rarity: str) -> int:
    return RARITY_POINTS.get(rarity, RARITY_POINTS["common"])


def efficiency(estimated_minutes: float | None, actual_minutes: float | None) -> float | None:
    """estimated / actual x 100, clamped to 0..100; None when either is unknown (the original
    divided by zero and handed out 100 for a completion without a duration)."""
    if not estimated_minutes or not actual_minutes or actual_minutes <= 0:
        return None
    return round(_clamp(estimated_minutes / actual_minutes * 100, 0, 100), 2)


# ------------------------------------------------------------------------------------------------
# Levels
# ------------------------------------------------------------------------------------------------
def xp_to_next_level(level: int) -> int:
    """XP needed to go from `level` to `level + 1`: 1000, 1500, 2250, 3375, 5062, 7593, ..."""
    if level < 1:
        raise ValueError("level starts at 1")
    need = LEVEL_2_XP
    for _ in range(level - 1):
        need = math.floor(need * LEVEL_GROWTH)
    return need


@dataclass(frozen=True)
class LevelState:
    level: int
    xp_in_level: int  # XP earned inside the current level (what the original called `xp`)
    xp_to_next_level: int  # the size of the current level (the original's `xpToNextLevel`)


def level_for_xp(total_xp: int) -> LevelState:
    remaining = max(0, int(total_xp))
    level, need = 1, LEVEL_2_XP
    while remaining >= need:
        remaining -= need
        level += 1
        need = math.floor(need * LEVEL_GROWTH)
    return LevelState(level=level, xp_in_level=remaining, xp_to_next_level=need)


def level_change(before_xp: int, after_xp: int) -> tuple[int, int] | None:
    """(from, to) when the level moves (up or down), else None."""
    before, after = level_for_xp(before_xp).level, level_for_xp(after_xp).level
    return (before, after) if before != after else None


# ------------------------------------------------------------------------------------------------
# Streaks
# ------------------------------------------------------------------------------------------------
def local_date(instant: datetime, tz: tzinfo) -> date:
    """The calendar day of an aware instant in a time zone (DST-safe via zoneinfo)."""
    if instant.tzinfo is None:
        raise ValueError("naive datetime")
    return instant.astimezone(tz).date()


@dataclass(frozen=True)
class DailyStreak:
    current: int = 0
    longest: int = 0
    last_date: date | None = None  # the last local day with a completion
    covered_through: date | None = None  # the last day kept alive (a completion or a freeze)
    freezes: int = 0


def daily_as_of(streak: DailyStreak, today: date) -> DailyStreak:
    """Spend freezes on the days missed before `today` (today itself is not missed yet), or
    break the streak when there are not enough. Idempotent; order-independent."""
    if streak.current == 0 or streak.covered_through is None:
        return streak
    missed = (today - streak.covered_through).days - 1
    if missed <= 0:
        return streak
    if missed <= streak.freezes:
        return replace(streak, freezes=streak.freezes - missed, covered_through=today - timedelta(days=1))
    return replace(streak, current=0, freezes=0, covered_through=None)


def daily_add(streak: DailyStreak, day: date) -> DailyStreak | None:
    """Count a completion on `day`. Returns None when the day lies in the past of the streak
    (a back-dated completion): the caller then folds over all days with `daily_from_days`."""
    if streak.last_date is not None and day == streak.last_date:
        return streak
    if streak.last_date is not None and day < streak.last_date:
        return None
    if streak.covered_through is not None and day <= streak.covered_through:
        return None
    streak = daily_as_of(streak, day)
    current = streak.current + 1
    freezes = streak.freezes
    if current % FREEZE_EVERY_DAYS == 0:
        freezes = min(MAX_FREEZES, freezes + 1)
    return DailyStreak(
        current=current,
        longest=max(streak.longest, current),
        last_date=day,
        covered_through=day,
        freezes=freezes,
    )


def daily_from_days(days: Iterable[date], today: date | None = None) -> DailyStreak:
    """The daily streak defined by the set of local days with a completion, as of `today`."""
    streak = DailyStreak()
    for day in sorted(set(days)):
        streak = daily_add(streak, day)
    return daily_as_of(streak, today) if today is not None else streak


_WEEK_KEY = re.compile(r"^(\d{4})-W(\d{2})$")


def iso_week_key(day: date) -> str:
    """`2026-W53`: zero-padded ISO year and week, so keys sort and compare correctly."""
    year, week, _ = day.isocalendar()
    return f"{year:04d}-W{week:02d}"


def week_monday(key: str) -> date:
    match = _WEEK_KEY.match(key or "")
    if not match:
        raise ValueError(f"not an ISO week key: {key!r}")
    return date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)


@dataclass(frozen=True)
class WeeklyStreak:
    current: int = 0
    longest: int = 0
    last_week: str | None = None


def weekly_as_of(streak: WeeklyStreak, today: date) -> WeeklyStreak:
    """A weekly streak is alive while its last week is this week or the one before."""
    if streak.current == 0 or streak.last_week is None:
        return streak
    gap = (today - timedelta(days=today.weekday()) - week_monday(streak.last_week)).days
    return replace(streak, current=0) if gap > 7 else streak


def weekly_add(streak: WeeklyStreak, day: date) -> WeeklyStreak | None:
    key = iso_week_key(day)
    if streak.last_week == key:
        return streak
    monday = week_monday(key)
    if streak.last_week is not None:
        gap = (monday - week_monday(streak.last_week)).days
        if gap < 0:
            return None
        current = streak.current + 1 if gap == 7 and streak.current > 0 else 1
    else:
        current = 1
    return WeeklyStreak(current=current, longest=max(streak.longest, current), last_week=key)


def weekly_from_days(days: Iterable[date], today: date | None = None) -> WeeklyStreak:
    streak = WeeklyStreak()
    for day in sorted(set(days)):
        streak = weekly_add(streak, day)
    return weekly_as_of(streak, today) if today is not None else streak


def streaks_from_days(days: Iterable[date], today: date) -> tuple[DailyStreak, WeeklyStreak]:
    """THE streak computation: the daily and weekly streaks defined by the local days with a
    completion, as of `today`. The live path (a completion, a reopen) and the rebuild both call
    this over every completion day, so a late completion (an upstream item closed days ago) moves
    the streak exactly as the rebuild would; adding a day to a stored state that was already
    brought forward to a later `today` loses the run it belongs to."""
    days = set(days)
    return daily_from_days(days, today), weekly_from_days(days, today)


# ------------------------------------------------------------------------------------------------
# Badge criteria
# ------------------------------------------------------------------------------------------------
# `count`: a running total on the profile; `threshold`: a value the profile reaches;
# `event_count`: how many domain events of one kind matched the filters.
COUNT_METRICS = ("tasks_completed", "challenges_completed", "badges_earned", "total_time_spent")
THRESHOLD_METRICS = ("points", "level", "daily_streak", "longest_daily_streak", "weekly_streak", "average_efficiency")
# The facts recorded for each event kind, and their value type.
EVENT_FACTS: dict[str, dict[str, type | tuple]] = {
    "task.completed": {
        "priority": str,
        "type": str,
        "source": str,
        "efficiency": (int, float),
        "early": bool,
        "local_hour": int,
        "weekday": int,
        "actual_duration": (int, float),
        "series_streak": int,
    },
    "challenge.completed": {
        "type": str,
        "difficulty": str,
        "score": (int, float),
        "accuracy": (int, float),
        "hints_used": int,
        "time_ratio": (int, float),
        "ai_source": str,
    },
    "integration.synced": {"provider": str, "tasks_created": int},
}
FILTER_OPS = ("eq", "gte", "gt", "lte", "lt", "in", "ne")
CRITERIA_TYPES = ("count", "threshold", "event_count")


def _split_filter(name: str) -> tuple[str, str]:
    field, _, op = name.partition("__")
    return field, op or "eq"


def validate_criteria(criteria) -> dict[str, list[str]]:
    """Field errors for a badge's criteria ({} when valid), in the API's error shape."""
    errors: dict[str, list[str]] = {}
    if not isinstance(criteria, Mapping):
        return {"criteria": ["Must be an object."]}
    kind = criteria.get("type")
    if kind not in CRITERIA_TYPES:
        return {"type": [f"Must be one of {', '.join(CRITERIA_TYPES)}."]}
    value = criteria.get("value")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        errors["value"] = ["Must be a whole number of at least 1."]
    allowed_keys = {"type", "value", "description"}
    if kind == "count":
        allowed_keys.add("metric")
        if criteria.get("metric") not in COUNT_METRICS:
            errors["metric"] = [f"Must be one of {', '.join(COUNT_METRICS)}."]
    elif kind == "threshold":
        allowed_keys.add("metric")
        if criteria.get("metric") not in THRESHOLD_METRICS:
            errors["metric"] = [f"Must be one of {', '.join(THRESHOLD_METRICS)}."]
    else:
        allowed_keys |= {"event", "filters"}
        event = criteria.get("event")
        if event not in EVENT_FACTS:
            errors["event"] = [f"Must be one of {', '.join(EVENT_FACTS)}."]
        filters = criteria.get("filters", {})
        if not isinstance(filters, Mapping):
            errors["filters"] = ["Must be an object."]
        elif event in EVENT_FACTS:
            problems = []
            for name, expected in filters.items():
                field, op = _split_filter(name)
                if field not in EVENT_FACTS[event]:
                    problems.append(f"{name}: unknown fact for {event}.")
                    continue
                if op not in FILTER_OPS:
                    problems.append(f"{name}: unknown operator {op!r}.")
                    continue
                kind_of = EVENT_FACTS[event][field]
                values = expected if op == "in" else [expected]
                if op == "in" and (not isinstance(expected, list) or not expected):
                    problems.append(f"{name}: must be a non-empty list.")
                    continue
                if op in ("gte", "gt", "lte", "lt") and kind_of not in ((int, float), int):
                    problems.append(f"{name}: {op} needs a numeric fact.")
                    continue
                for item in values:
                    ok = isinstance(item, kind_of) and not (kind_of is not bool and isinstance(item, bool))
                    if kind_of is bool:
                        ok = isinstance(item, bool)
                    if not ok:
                        problems.append(f"{name}: {item!r} has the wrong type.")
                        break
            if problems:
                errors["filters"] = problems
    unknown = set(criteria) - allowed_keys
    if unknown:
        errors["criteria"] = [f"Unknown keys: {', '.join(sorted(unknown))}."]
    return errors


def facts_match(filters: Mapping, facts: Mapping) -> bool:
    """Whether recorded facts satisfy validated filters (the same semantics as the SQL filter)."""
    for name, expected in filters.items():
        field, op = _split_filter(name)
        actual = facts.get(field)
        if actual is None:
            return False
        if op == "eq" and actual != expected:
            return False
        if op == "ne" and actual == expected:
            return False
        if op == "in" and actual not in expected:
            return False
        if op == "gte" and not actual >= expected:
            return False
        if op == "gt" and not actual > expected:
            return False
        if op == "lte" and not actual <= expected:
            return False
        if op == "lt" and not actual < expected:
            return False
    return True


def may_count(criteria: Mapping, kind: str, facts: Mapping) -> bool:
    """Whether one recorded event may be one that event_count `criteria` counts: False only when
    it surely is not (another kind, or a fact it recorded fails a filter). A fact recorded as null
    is left to SQL, whose JSON ordering can count it (null sorts below every number)."""
    if criteria.get("event") != kind:
        return False
    filters = criteria.get("filters") or {}
    return facts_match({n: v for n, v in filters.items() if facts.get(_split_filter(n)[0]) is not None}, facts)


def criteria_progress(criteria: Mapping, metrics: Mapping[str, float], event_count: int = 0) -> tuple[int, int]:
    """(current, target) toward a badge; `current` is capped at the target."""
    target = int(criteria["value"])
    if criteria["type"] == "event_count":
        current = event_count
    else:
        current = metrics.get(criteria["metric"], 0) or 0
    return min(int(current), target), target
