"""Recompute a user's MongoDB analytics from the relational truth (MongoDB is derived data).

Sources: tasks (created; completed ones as completions), completed challenges, the points
ledger (every entry, reversals included, on its `occurred_at`) and badge awards. Each becomes
the same record, with the same `event_id`, that the domain-event subscribers write, and the
rollups are summed with the same `rules.rollup_delta`, so a rebuild equals the incremental
result. (Incrementally, a completed-then-reopened task leaves a completion and a reopen event
that cancel out; the rebuild simply has neither.)

Per user: events and daily documents are replaced; insights and the weekly-notification flag of
days that already existed are kept. The user may be active meanwhile (the rebuild is queued by
the analytics endpoints themselves, usually while the user works): an event a fold stores after
the rebuild read PostgreSQL is kept, added to the rebuilt rollups, and counted on the watermark,
which is set from the events actually stored. Before, such an event was deleted with the old
ones (or its count overwritten), so the next check found the store behind again and a busy user
was answered 503 `rebuilding` every couple of minutes.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from django.utils import timezone
from pymongo.errors import BulkWriteError, OperationFailure

from analytics import rules, services
from analytics.documents import DailyStat, Event, Watermark
from analytics.handlers import badge_key, ledger_record
from challenges.models import Challenge
from gamification.models import LedgerEntry, UserBadge
from tasks.models import Task

BATCH = 1000


def records_for_user(user):
    """Every event record the relational data implies for `user`, in no particular order."""
    tasks = Task.objects.filter(user=user).only(
        "id",
        "type",
        "priority",
        "source",
        "created_at",
        "status",
        "completed_at",
        "actual_duration",
        "efficiency",
        "estimated_duration",
    )
    for task in tasks.iterator(chunk_size=BATCH):
        yield services.task_created_record(user, task)
        if task.status == "completed" and task.completed_at is not None:
            yield services.task_completed_record(user, task, task.completed_at, task.actual_duration, task.efficiency)
    challenges = Challenge.objects.filter(user=user, status="completed", completed_at__isnull=False).only(
        "id", "task_id", "type", "difficulty", "score", "accuracy", "completion_time", "hints_used", "completed_at"
    )
    for challenge in challenges.iterator(chunk_size=BATCH):
        yield services.challenge_completed_record(user, challenge)
    for entry in LedgerEntry.objects.filter(user=user).iterator(chunk_size=BATCH):
        yield ledger_record(user, entry)
    for award in UserBadge.objects.filter(user=user).select_related("badge").iterator(chunk_size=BATCH):
        yield services.badge_awarded_record(
            user, badge_key=badge_key(award.badge), badge_name=award.badge.name, awarded_at=award.earned_at
        )


def rollups(records) -> dict[str, dict]:
    """day -> {"metrics", "applied", "tz"}: the in-memory equivalent of folding every record."""
    days: dict[str, dict] = defaultdict(lambda: {"metrics": rules.zero_metrics(), "applied": [], "tz": None})
    for record in records:
        day, delta = rules.rollup_delta(record)
        if not delta:
            continue
        bucket = days[day]
        rules.add_delta(bucket["metrics"], delta)
        bucket["applied"].append(record["event_id"])
        bucket["tz"] = bucket["tz"] or record["tz"]
    return dict(days)


def _insert(collection, docs, key: tuple[str, ...]) -> None:
    """Insert `docs`; one that a concurrent fold wrote first (a duplicate of the unique `key`)
    is replaced by the rebuilt one, so a fold racing the rebuild cannot fail it halfway."""
    for start in range(0, len(docs), BATCH):
        batch = docs[start : start + BATCH]
        try:
            collection.insert_many(batch, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if not errors or not all(services.is_duplicate_key(OperationFailure(e.get("errmsg", ""), e.get("code"))) for e in errors):
                raise
            for error in errors:
                doc = batch[error["index"]]
                collection.replace_one({k: doc[k] for k in key}, {k: v for k, v in doc.items() if k != "_id"}, upsert=True)


def _stored_ids(events, user_id: str) -> set[str]:
    return {doc["event_id"] for doc in events.find({"user_id": user_id}, {"_id": 0, "event_id": 1})}


def rebuild_user(user) -> dict:
    return write_rebuild(user, *read_sources(user))


def read_sources(user) -> tuple[set[str], list[dict]]:
    """The ids of the events stored before PostgreSQL is read, then the records it implies.
    Events stored later, by folds racing the rebuild, are not among the ids: they are kept."""
    stored = _stored_ids(Event._get_collection(), str(user.id))
    return stored, list(records_for_user(user))


def write_rebuild(user, stored_before: set[str], records: list[dict]) -> dict:
    user_id = str(user.id)
    tz_name = rules.zone(getattr(user, "timezone", None)).key
    kept = {
        doc["day"]: doc
        for doc in DailyStat._get_collection().find(
            {"user_id": user_id}, {"_id": 0, "day": 1, "insights": 1, "weekly_notified": 1}
        )
    }
    days = rollups(records)
    now = timezone.now()
    events = Event._get_collection()
    stats = DailyStat._get_collection()
    watermarks = Watermark._get_collection()
    watermarks.delete_many({"user_id": user_id})
    stale = sorted(stored_before)
    for start in range(0, len(stale), BATCH):
        events.delete_many({"user_id": user_id, "event_id": {"$in": stale[start : start + BATCH]}})
    stats.delete_many({"user_id": user_id})
    docs = []
    for day in sorted(set(days) | set(kept)):
        built = days.get(day) or {"metrics": rules.zero_metrics(), "applied": [], "tz": tz_name}
        doc = services.day_defaults(user_id, day, built["tz"] or tz_name)
        doc.update(metrics=built["metrics"], applied=built["applied"])
        if day in kept:
            doc.update(insights=kept[day].get("insights") or [], weekly_notified=bool(kept[day].get("weekly_notified")))
        docs.append(doc)
    # rollups, events, then the watermark analytics.freshness reads: a rebuild that dies before
    # the end still reads as behind and is run again
    _insert(stats, docs, ("user_id", "day"))
    _insert(
        events,
        [{**r, "occurred_at": datetime.fromisoformat(r["occurred_at"]), "recorded_at": now} for r in records],
        ("event_id",),
    )
    # Events a fold stored since PostgreSQL was read: kept above, folded into the rebuilt days
    # (a fold whose own `$inc` lands later finds its id applied and adds nothing).
    rebuilt = {record["event_id"] for record in records}
    counts: dict[str, int] = defaultdict(int)
    for doc in events.find({"user_id": user_id}, {"_id": 0}):
        counts[services.watermark_key(doc["type"])] += 1
        if doc["event_id"] not in rebuilt and doc["event_id"] not in stored_before:
            services.fold_into_day(doc)
    watermarks.replace_one(
        {"user_id": user_id}, {"user_id": user_id, "counts": dict(counts), "updated_at": now}, upsert=True
    )
    return {"events": len(records), "days": len(days)}


def snapshot(user_id: str) -> dict[str, dict]:
    """day -> metrics without zero entries, skipping all-zero days: what "equal rollups" means."""
    out = {}
    for doc in DailyStat._get_collection().find({"user_id": str(user_id)}, {"_id": 0, "day": 1, "metrics": 1}):
        metrics = {}
        for key, value in (doc.get("metrics") or {}).items():
            if isinstance(value, dict):
                value = {k: v for k, v in value.items() if v}
            if value:
                metrics[key] = round(value, 6) if isinstance(value, float) else value
        if metrics:
            out[doc["day"]] = metrics
    return out
