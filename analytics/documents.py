"""MongoDB documents (mongoengine): the domain-event stream and the per-day rollups.

Both are *derived* data: `manage.py rebuild_analytics` recomputes them from the relational
truth (tasks, challenges, the points ledger, badge awards).

Local-time fields (`day`, `hour`, `weekday`, `week`) are computed in the user's IANA time zone
when the event is recorded and stored, so every pipeline groups and filters on plain strings
and integers. That keeps the pipelines identical on MongoDB, on the embedded mongomock and on
the nx-27017 test server (whose `$hour`/`$dateToString` ignore `timezone`, and whose datetime
range filters inside `aggregate` are unreliable).
"""

from __future__ import annotations

from django.utils import timezone
from mongoengine import (
    BooleanField,
    DateTimeField,
    DictField,
    Document,
    IntField,
    ListField,
    StringField,
)

# The domain events analytics keeps (DESIGN.md §3). Other events carry nothing the rollups use.
EVENT_TYPES = (
    "task.created",
    "task.completed",
    "task.reopened",
    "challenge.completed",
    "points.awarded",
    "badge.awarded",
)


class Event(Document):
    """One domain event, once: `event_id` is derived from the source row, so a redelivery or a
    rebuild produces the same id and the unique index turns the second write into a no-op."""

    event_id = StringField(required=True)
    user_id = StringField(required=True, max_length=24)
    type = StringField(required=True, choices=EVENT_TYPES)
    occurred_at = DateTimeField(required=True)  # UTC instant
    tz = StringField(required=True)  # the user's zone when recorded
    day = StringField(required=True)  # local date, YYYY-MM-DD
    hour = IntField(required=True, min_value=0, max_value=23)  # local hour
    weekday = IntField(required=True, min_value=0, max_value=6)  # local, Monday = 0
    subject_id = StringField()  # the task / challenge / ledger row / badge this is about
    data = DictField()
    recorded_at = DateTimeField(default=timezone.now)

    meta = {
        "collection": "events",
        "indexes": [
            {"fields": ["event_id"], "unique": True},
            {"fields": ["user_id", "-occurred_at"]},  # a user's timeline
            {"fields": ["user_id", "type", "day"]},  # per type over a range of days
            {"fields": ["type", "-occurred_at"]},
        ],
        "auto_create_index_on_save": False,
    }


class DailyStat(Document):
    """One per user per local day. Counters only change by `$inc` (see services.apply_record);
    averages and the peak hour are derived when read. `applied` lists the event ids already
    folded in, which is what makes folding idempotent."""

    user_id = StringField(required=True, max_length=24)
    day = StringField(required=True)  # local date, YYYY-MM-DD
    tz = StringField(required=True)
    date = DateTimeField(required=True)  # local midnight of `day`, as a UTC instant
    week = StringField(required=True)  # ISO week of `day`, e.g. 2026-W01
    weekday = IntField(required=True, min_value=0, max_value=6)  # Monday = 0
    metrics = DictField()  # see rules.ZERO_METRICS
    insights = ListField(DictField())
    applied = ListField(StringField())
    weekly_notified = BooleanField(default=False)
    created_at = DateTimeField(default=timezone.now)
    updated_at = DateTimeField(default=timezone.now)

    meta = {
        "collection": "analytics",
        "indexes": [
            {"fields": ["user_id", "day"], "unique": True},
            {"fields": ["user_id", "week"]},
        ],
        "auto_create_index_on_save": False,
    }


class Watermark(Document):
    """One per user: how many events of each kind `events` holds for the user (`counts`, keyed by
    rules-safe kind, "task_completed"). Raised with each event newly stored and set exactly by a
    rebuild, so analytics.freshness compares it with PostgreSQL in one indexed read. Lower than
    the truth after a crash between the two writes: that reads as behind, and the rebuild fixes it."""

    user_id = StringField(required=True, max_length=24)
    counts = DictField()
    updated_at = DateTimeField(default=timezone.now)

    meta = {
        "collection": "analytics_watermarks",
        "indexes": [{"fields": ["user_id"], "unique": True}],
        "auto_create_index_on_save": False,
    }


DOCUMENTS = (Event, DailyStat, Watermark)


def ensure_indexes() -> None:
    for document in DOCUMENTS:
        document.ensure_indexes()
