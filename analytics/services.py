"""Analytics writes: record domain events and fold them into daily rollups, idempotently.

Flow (DESIGN.md §3): a domain event commits in PostgreSQL -> an after-commit subscriber
(`analytics.handlers`) turns it into a *record* (`build_*` below: a JSON-able dict with a
deterministic `event_id` and the user's local day/hour) -> `apply_record` stores the Event and
folds its counters into that day's DailyStat with one atomic `$inc`.

Idempotency: `event_id` is derived from the source row (`task.completed:<task id>:<completed at>`),
so a redelivered or rebuilt event has the same id. The Event insert is guarded by a unique index
and the `$inc` by `applied: {$nin: [event_id]}` on the day document (the id is pushed in the same
update), so applying a record twice, even after a crash between the two writes, changes nothing.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

from django.utils import timezone
from pymongo.errors import DuplicateKeyError, OperationFailure

from analytics import rules
from analytics.documents import DailyStat, Event, Watermark
from kernel import tracing
from kernel.api.times import iso_utc, utc_z

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------


def stamp(instant: datetime) -> str:
    """A UTC timestamp for event ids (microsecond precision, as PostgreSQL stores it)."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def _iso(instant: datetime) -> str:
    return iso_utc(instant)


def _user_zone(user) -> rules.ZoneInfo:
    return rules.zone(getattr(user, "timezone", None))


def make_record(
    kind: str, user_id: str, tz, occurred_at: datetime, *, event_id: str, subject_id=None, data=None
) -> dict:
    """A JSON-able event record; local fields are computed in `tz` (a ZoneInfo)."""
    return {
        "event_id": event_id,
        "type": kind,
        "user_id": str(user_id),
        "occurred_at": _iso(occurred_at),
        "tz": tz.key,
        **rules.local_fields(occurred_at, tz),
        "subject_id": str(subject_id) if subject_id is not None else None,
        "data": data or {},
    }


def _num(value):
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def task_created_record(user, task) -> dict:
    return make_record(
        "task.created",
        user.id,
        _user_zone(user),
        task.created_at,
        event_id=f"task.created:{task.id}",
        subject_id=task.id,
        data={
            "task_id": str(task.id),
            "task_type": task.type,
            "priority": getattr(task, "priority", None),
            "source": getattr(task, "source", None),
        },
    )


def task_completed_record(user, task, completed_at=None, actual_duration=None, efficiency=None) -> dict:
    completed_at = completed_at or task.completed_at or timezone.now()
    duration = actual_duration if actual_duration is not None else getattr(task, "actual_duration", None)
    efficiency = efficiency if efficiency is not None else getattr(task, "efficiency", None)
    return make_record(
        "task.completed",
        user.id,
        _user_zone(user),
        completed_at,
        event_id=f"task.completed:{task.id}:{stamp(completed_at)}",
        subject_id=task.id,
        data={
            "task_id": str(task.id),
            "task_type": task.type,
            "actual_duration": _num(duration),
            "estimated_duration": _num(getattr(task, "estimated_duration", None)),
            "efficiency": _num(efficiency),
        },
    )


def task_reopened_record(user, task, previous_completed_at, reopened_at=None) -> dict | None:
    """The reopen carries the completion it reverses (its day, hour and counters), read from the
    stored completion event. If that completion never reached MongoDB there is nothing to
    reverse, and the reopen is recorded with an empty `reverses`."""
    if previous_completed_at is None:
        return None
    completed_id = f"task.completed:{task.id}:{stamp(previous_completed_at)}"
    original = Event.objects(event_id=completed_id).only("day", "hour", "data").first()
    reverses = (
        {"event_id": completed_id, "day": original.day, "hour": original.hour, "data": dict(original.data)}
        if original is not None
        else {}
    )
    return make_record(
        "task.reopened",
        user.id,
        _user_zone(user),
        reopened_at or timezone.now(),
        event_id=f"task.reopened:{task.id}:{stamp(previous_completed_at)}",
        subject_id=task.id,
        data={"task_id": str(task.id), "task_type": task.type, "reverses": reverses},
    )


def _completion_minutes(challenge):
    """Challenge `completion_time` is in seconds (the client's timer); rollups count minutes."""
    seconds = _num(getattr(challenge, "completion_time", None))
    return round(seconds / 60.0, 2) if seconds else None


def challenge_completed_record(user, challenge) -> dict:
    completed_at = getattr(challenge, "completed_at", None) or timezone.now()
    return make_record(
        "challenge.completed",
        user.id,
        _user_zone(user),
        completed_at,
        event_id=f"challenge.completed:{challenge.id}",
        subject_id=challenge.id,
        data={
            "challenge_id": str(challenge.id),
            "task_id": str(getattr(challenge, "task_id", "") or "") or None,
            "challenge_type": challenge.type,
            "difficulty": getattr(challenge, "difficulty", None),
            "score": _num(getattr(challenge, "score", None)),
            "accuracy": _num(getattr(challenge, "accuracy", None)),
            "completion_minutes": _completion_minutes(challenge),
            "hints_used": getattr(challenge, "hints_used", None),
        },
    )


def points_awarded_record(user, *, entry_id, points, xp, reason, source, created_at, idempotency_key=None) -> dict:
    return make_record(
        "points.awarded",
        user.id,
        _user_zone(user),
        created_at or timezone.now(),
        event_id=f"points.awarded:{entry_id}",
        subject_id=entry_id,
        data={
            "points": int(points or 0),
            "xp": int(xp or 0),
            "reason": reason,
            "source": source,
            "idempotency_key": idempotency_key,
        },
    )


def badge_awarded_record(user, *, badge_key, badge_name, awarded_at) -> dict:
    return make_record(
        "badge.awarded",
        user.id,
        _user_zone(user),
        awarded_at or timezone.now(),
        event_id=f"badge.awarded:{user.id}:{badge_key}",
        subject_id=badge_key,
        data={"badge": badge_key, "name": badge_name},
    )


# ---------------------------------------------------------------------------------------------
# Folding
# ---------------------------------------------------------------------------------------------


def is_duplicate_key(exc: OperationFailure) -> bool:
    """MongoDB reports a unique-index violation as code 11000 (DuplicateKeyError); nx-27017 under
    concurrent writers sometimes reports SQLite's "UNIQUE constraint failed" without the code."""
    if isinstance(exc, DuplicateKeyError) or exc.code in (11000, 11001):
        return True
    text = str(exc)
    return "UNIQUE constraint failed" in text or "duplicate key" in text


def day_defaults(user_id: str, day: str, tz_name: str) -> dict:
    local_day = date.fromisoformat(day)
    now = timezone.now()
    return {
        "user_id": user_id,
        "day": day,
        "tz": tz_name,
        "date": rules.local_midnight(local_day, rules.zone(tz_name)),
        "week": rules.iso_week(local_day),
        "weekday": local_day.weekday(),
        "metrics": rules.zero_metrics(),
        "insights": [],
        "applied": [],
        "weekly_notified": False,
        "created_at": now,
        "updated_at": now,
    }


def ensure_day(user_id: str, day: str, tz_name: str) -> None:
    """Create the (user, day) document with zeroed counters if it is not there yet.

    `$setOnInsert` of the whole zero document, then `$inc` in a second update (apply_record):
    one upsert that both creates nested counters and `$inc`s them is not reliable on every
    engine we run on, and the unique (user_id, day) index makes a racing second upsert fail
    harmlessly with a duplicate key."""
    defaults = day_defaults(user_id, day, tz_name)
    try:
        DailyStat._get_collection().update_one(
            {"user_id": user_id, "day": day},
            {"$setOnInsert": {k: v for k, v in defaults.items() if k not in ("user_id", "day")}},
            upsert=True,
        )
    except OperationFailure as exc:
        if not is_duplicate_key(exc):
            raise


def _parse_instant(value) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def apply_record(record: dict) -> bool:
    """Store the event and fold it into its day. Returns True when the rollup changed."""
    with tracing.span("analytics.fold", **{"analytics.kind": record.get("type")}) as span:
        changed = _apply_record(record)
        if span is not None:
            span.set_attribute("analytics.changed", changed)
        return changed


def _apply_record(record: dict) -> bool:
    event = {
        **record,
        "occurred_at": _parse_instant(record["occurred_at"]),
        "recorded_at": timezone.now(),
    }
    try:
        Event._get_collection().insert_one(event)
    except OperationFailure as exc:
        if not is_duplicate_key(exc):
            raise
        # already stored: the guarded $inc below decides whether it was folded
    else:
        raise_watermark(record["user_id"], record["type"])
    return fold_into_day(record)


def fold_into_day(record: dict) -> bool:
    """Add one stored event to its day's rollup, once (the day lists the events it holds)."""
    day, delta = rules.rollup_delta(record)
    if not delta:
        return False
    user_id, event_id = record["user_id"], record["event_id"]
    ensure_day(user_id, day, record["tz"])
    result = DailyStat._get_collection().update_one(
        {"user_id": user_id, "day": day, "applied": {"$nin": [event_id]}},
        {
            "$inc": {f"metrics.{path}": value for path, value in delta.items()},
            "$push": {"applied": event_id},
            "$set": {"updated_at": timezone.now()},
        },
    )
    return result.modified_count == 1


# ---------------------------------------------------------------------------------------------
# Account deletion and export
# ---------------------------------------------------------------------------------------------


def watermark_key(kind: str) -> str:
    return kind.replace(".", "_")


def raise_watermark(user_id: str, kind: str) -> None:
    """Count one newly stored event of `kind` on the user's Watermark (analytics.freshness)."""
    collection = Watermark._get_collection()
    # Create, then `$inc`: an upsert that creates a nested counter and increments it at once is
    # not reliable on every engine we run on (see ensure_day).
    try:
        collection.update_one(
            {"user_id": str(user_id)}, {"$setOnInsert": {"counts": {}, "updated_at": timezone.now()}}, upsert=True
        )
    except OperationFailure as exc:
        if not is_duplicate_key(exc):  # a racing upsert created it
            raise
    collection.update_one(
        {"user_id": str(user_id)},
        {"$inc": {f"counts.{watermark_key(kind)}": 1}, "$set": {"updated_at": timezone.now()}},
    )


def delete_user_data(user_id: str) -> dict:
    user_id = str(user_id)
    Watermark._get_collection().delete_many({"user_id": user_id})
    events = Event._get_collection().delete_many({"user_id": user_id}).deleted_count
    days = DailyStat._get_collection().delete_many({"user_id": user_id}).deleted_count
    return {"events": events, "days": days}


def export_user_data(user) -> dict:
    """The export section: every stored event and daily rollup of the user, oldest first."""
    events = Event._get_collection().find({"user_id": str(user.id)}, {"_id": 0}).sort("occurred_at", 1)
    days = DailyStat._get_collection().find({"user_id": str(user.id)}, {"_id": 0, "applied": 0}).sort("day", 1)

    return {"events": [utc_z(e) for e in events], "daily": [utc_z(d) for d in days]}


# ---------------------------------------------------------------------------------------------
# Insights
# ---------------------------------------------------------------------------------------------


def store_insights(user, day: str, insights: list[dict]) -> None:
    tz = _user_zone(user)
    ensure_day(str(user.id), day, tz.key)
    DailyStat._get_collection().update_one(
        {"user_id": str(user.id), "day": day},
        {"$set": {"insights": insights, "updated_at": timezone.now()}},
    )


def claim_weekly_notification(user, day: str) -> bool:
    """Atomically mark `day`'s weekly summary as sent; True only for the first caller."""
    tz = _user_zone(user)
    ensure_day(str(user.id), day, tz.key)
    result = DailyStat._get_collection().update_one(
        {"user_id": str(user.id), "day": day, "weekly_notified": {"$ne": True}},
        {"$set": {"weekly_notified": True, "updated_at": timezone.now()}},
    )
    return result.modified_count == 1
