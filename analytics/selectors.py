"""Analytics reads: aggregation pipelines run in MongoDB, scoped to one user.

Every pipeline starts with `$match: {user_id: <the caller>, day: {$gte, $lte}}` on the
(user_id, day) index, with the bounds computed in the user's time zone (rules.days_range /
rules.period_range), so another user's data is never read and "today" is the user's today.
Only small results (a few dozen groups) come back to Python, which just renames keys.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from analytics import rules
from analytics.documents import DailyStat
from challenges.models import ChallengeType
from kernel.api.times import iso_utc, utc_z
from tasks.models import TaskType

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

# Counters summed by the stats and trend pipelines: output name -> metrics field.
SUMS = {
    "tasks_completed": "tasks_completed",
    "tasks_created": "tasks_created",
    "challenges_completed": "challenges_completed",
    "time_spent": "time_spent",
    "points_earned": "points_earned",
    "badges_earned": "badges_earned",
    "efficiency_sum": "efficiency_sum",
    "efficiency_count": "efficiency_count",
}


def _zone(user):
    return rules.zone(getattr(user, "timezone", None))


def _match(user, start: str, end: str) -> dict:
    return {"$match": {"user_id": str(user.id), "day": {"$gte": start, "$lte": end}}}


def _sum_group(group_id) -> dict:
    return {"$group": {"_id": group_id, **{name: {"$sum": f"$metrics.{field}"} for name, field in SUMS.items()}}}


def _aggregate(pipeline: list) -> list[dict]:
    return list(DailyStat._get_collection().aggregate(pipeline))


def _sums(pipeline: list) -> list[dict]:
    """Run a `$group` pipeline; a `$sum` over a field no document has is 0 (nx-27017 says null)."""
    return [{k: (0 if v is None and k != "_id" else v) for k, v in row.items()} for row in _aggregate(pipeline)]


def type_keys() -> tuple[list[str], list[str]]:
    """The task and challenge types a rollup can count (the models' choices).

    Summing one known key per type in a single `$group` is ~25x faster than `$objectToArray` +
    `$unwind` over the by-type maps (measured on nx-27017; see bench/analytics.py)."""
    return [rules.safe_key(v) for v in TaskType.values], [rules.safe_key(v) for v in ChallengeType.values]


def _typed_sum_group(group_id) -> dict:
    task_types, challenge_types = type_keys()
    group = _sum_group(group_id)["$group"]
    group.update({f"tt_{k}": {"$sum": f"$metrics.tasks_by_type.{k}"} for k in task_types})
    group.update({f"ct_{k}": {"$sum": f"$metrics.challenges_by_type.{k}"} for k in challenge_types})
    return {"$group": group}


def _typed_map(row: dict, prefix: str) -> dict:
    return {key[len(prefix) :]: value for key, value in sorted(row.items()) if key.startswith(prefix) and value}


# ---------------------------------------------------------------------------------------------
# GET /api/analytics?days=N
# ---------------------------------------------------------------------------------------------


def daily_rows(user, days: int, now: datetime | None = None) -> list[dict]:
    """The user's daily rollups for the last `days` local days, newest first."""
    start, end = rules.days_range(days, _zone(user), now or timezone.now())
    docs = _aggregate(
        [
            _match(user, start, end),
            {"$sort": {"day": -1}},
            {"$project": {"_id": 0, "applied": 0, "weekly_notified": 0}},
        ]
    )
    return [day_row(doc) for doc in docs]


def day_row(doc: dict) -> dict:
    metrics = {**rules.zero_metrics(), **(doc.get("metrics") or {})}
    tz = rules.zone(doc.get("tz"))
    return {
        "id": f"{doc['user_id']}:{doc['day']}",
        "day": doc["day"],
        "date": iso_utc(doc["date"]),
        "timezone": tz.key,
        "metrics": {
            "tasks_completed": metrics["tasks_completed"],
            "tasks_created": metrics["tasks_created"],
            "challenges_completed": metrics["challenges_completed"],
            "time_spent": metrics["time_spent"],
            "average_efficiency": rules.average(metrics["efficiency_sum"], metrics["efficiency_count"]),
            "points_earned": metrics["points_earned"],
            "xp_earned": metrics["xp_earned"],
            "badges_earned": metrics["badges_earned"],
            "peak_productivity_hour": rules.peak_hour(metrics["hours"]),
            "tasks_by_type": rules.public_map(metrics["tasks_by_type"]),
            "challenges_by_type": rules.public_map(metrics["challenges_by_type"]),
        },
        "insights": utc_z(doc.get("insights") or []),
        "created_at": doc.get("created_at"),
        "updated_at": doc.get("updated_at"),
    }


# ---------------------------------------------------------------------------------------------
# GET /api/analytics/stats?period=day|week|month
# ---------------------------------------------------------------------------------------------


def stats(user, period: str, now: datetime | None = None) -> dict:
    """One `$group` over the period's daily rollups: totals and per-type counts."""
    start, end = rules.period_range(period, _zone(user), now or timezone.now())
    rows = _sums([_match(user, start, end), _typed_sum_group(None)])
    total = rows[0] if rows else dict.fromkeys(SUMS, 0)
    return {
        "period": period,
        "start": start,
        "end": end,
        "total_tasks_completed": total["tasks_completed"],
        "total_tasks_created": total["tasks_created"],
        "total_challenges_completed": total["challenges_completed"],
        "total_time_spent": total["time_spent"],
        "total_points_earned": total["points_earned"],
        "total_badges_earned": total["badges_earned"],
        # weighted over completions (not a mean of daily means, which over-weights light days)
        "average_efficiency": rules.average(total["efficiency_sum"], total["efficiency_count"]),
        "tasks_by_type": _typed_map(total, "tt_"),
        "challenges_by_type": _typed_map(total, "ct_"),
    }


# ---------------------------------------------------------------------------------------------
# GET /api/analytics/performance?days=N
# ---------------------------------------------------------------------------------------------

PERFORMANCE_DEFAULT_DAYS = 90
WINDOW = 7  # the recent-vs-previous comparison compares two windows of this many days


def _summary(row: dict | None) -> dict:
    row = row or dict.fromkeys(SUMS, 0)
    return {
        "tasks_completed": row["tasks_completed"],
        "challenges_completed": row["challenges_completed"],
        "time_spent": row["time_spent"],
        "points_earned": row["points_earned"],
        "average_efficiency": rules.average(row["efficiency_sum"], row["efficiency_count"]),
    }


def _change(recent, previous):
    if recent is None or previous is None:
        return None
    if previous == 0:
        return None if recent == 0 else 100.0
    return round((recent - previous) / abs(previous) * 100.0, 1)


def heatmap(user, start: str, end: str) -> list[list[int]]:
    """Completions per local weekday (rows, Monday first) x local hour (columns): one `$group`
    by weekday summing the 24 hour counters of the daily rollups."""
    rows = _sums(
        [
            _match(user, start, end),
            {"$group": {"_id": "$weekday", **{f"h{h}": {"$sum": f"$metrics.hours.{h}"} for h in range(24)}}},
        ]
    )
    grid = [[0] * 24 for _ in range(7)]
    for row in rows:
        grid[row["_id"]] = [row[f"h{h}"] for h in range(24)]
    return grid


def performance(user, days: int = PERFORMANCE_DEFAULT_DAYS, now: datetime | None = None) -> dict:
    tz = _zone(user)
    now = now or timezone.now()
    start, end = rules.days_range(days, tz, now)
    weekly = _sums([_match(user, start, end), _sum_group("$week"), {"$sort": {"_id": 1}}])
    end_day = rules.today(tz, now)
    recent_start = (end_day - timedelta(days=WINDOW - 1)).isoformat()
    previous_start = (end_day - timedelta(days=2 * WINDOW - 1)).isoformat()
    previous_end = (end_day - timedelta(days=WINDOW)).isoformat()
    recent = _sums([_match(user, recent_start, end), _sum_group(None)])
    previous = _sums([_match(user, previous_start, previous_end), _sum_group(None)])
    recent_summary, previous_summary = (
        _summary(recent[0] if recent else None),
        _summary(previous[0] if previous else None),
    )
    grid = heatmap(user, start, end)
    by_hour = [sum(grid[w][h] for w in range(7)) for h in range(24)]
    by_weekday = [sum(grid[w]) for w in range(7)]
    total = sum(by_hour)
    return {
        "start": start,
        "end": end,
        "days": days,
        "timezone": tz.key,
        "trends": {
            "weekly": [{"week": row["_id"], **_summary(row)} for row in weekly],
            "recent": {"start": recent_start, "end": end, **recent_summary},
            "previous": {"start": previous_start, "end": previous_end, **previous_summary},
            "change": {key: _change(recent_summary[key], previous_summary[key]) for key in recent_summary},
        },
        # `heatmap` is passed to the client untouched (kernel.api.casing.OPAQUE_KEYS)
        "heatmap": {"weekdays": list(WEEKDAYS), "hours": list(range(24)), "values": grid, "total": total},
        "hourly_totals": by_hour,
        "weekday_totals": dict(zip(WEEKDAYS, by_weekday, strict=True)),
        "peak_hour": by_hour.index(max(by_hour)) if total else None,
        "best_weekday": WEEKDAYS[by_weekday.index(max(by_weekday))] if total else None,
    }


# ---------------------------------------------------------------------------------------------
# Insight inputs
# ---------------------------------------------------------------------------------------------

INSIGHT_LOOKBACK_DAYS = 60


def recent_days(user, now: datetime | None = None, days: int = INSIGHT_LOOKBACK_DAYS) -> list[dict]:
    """The metrics of the user's last `days` local days (only days with a document), oldest first."""
    start, end = rules.days_range(days, _zone(user), now or timezone.now())
    return _aggregate(
        [_match(user, start, end), {"$sort": {"day": 1}}, {"$project": {"_id": 0, "day": 1, "metrics": 1}}]
    )
