"""The wire shape of a task (API.md "Tasks"), snake_case here, camelCase on the wire.

Output is built by hand in `task_to_dict` (one dict per row, no per-field serializer calls):
lists are hot. The declared fields document the same shape for the OpenAPI schema and
validate input. Server-set fields (owner, completion data, classification, ids, times) are
read-only: a client sending them changes nothing.
"""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from gamification.serializers import EffectsSerializer
from kernel.api.casing import camelize
from kernel.api.choices import ChoiceField
from kernel.api.errors import ErrorCode
from kernel.api.fields import DATETIME_RULES, DateTimeField, IdFieldsMixin, check_datetime
from kernel.api.strict import StrictInputMixin, StrictSerializer
from kernel.api.times import iso_utc
from tasks import columns
from tasks.errors import TaskError
from tasks.models import (
    MAX_DURATION_MINUTES,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    Priority,
    Task,
    TaskSource,
    TaskStatus,
    TaskType,
)
from tasks.recurrence import wire as recurrence_wire
from tasks.recurrence.serializers import RecurrenceSerializer, SeriesStreakSerializer

# The columns a task's wire shape reads (lists fetch only these, as dicts: no model instances).
WIRE_FIELDS = (
    "id", "title", "description", "type", "status", "priority", "due_date", "due_date_only", "estimated_duration",
    "tags", "source", "source_id", "source_url", "challenge_id", "classification", "completed_at", "actual_duration",
    "efficiency", "completion_notes", "created_at", "updated_at", "version", *recurrence_wire.FIELDS,
)


def _as_is(value):
    return value


def row_to_dict(row: dict, *, datetimes_as_is: bool = False) -> dict:
    """A task's wire shape from a `.values(*WIRE_FIELDS)` row.

    Keys are written in their wire (camelCase) form here, unlike the rest of the code base: the
    task list is the hottest endpoint, and `tasks.renderers` sends these rows without walking
    them again. Through the ordinary renderer the result is the same (camelizing is idempotent).

    With `datetimes_as_is` the date-times stay datetime objects (aware, UTC from the database)
    for the API renderer's encoder to write, which writes them exactly as `iso_utc` does
    (`kernel.api.renderers.dumps`) at a fraction of the cost; only for rows that go straight to
    that renderer, not for payloads other encoders see (events, sockets)."""
    stamp = _as_is if datetimes_as_is else iso_utc
    completed_at = row["completed_at"]
    classification = row["classification"]
    return {
        "_id": row["id"],
        "id": row["id"],
        "title": row["title"],
        "description": row["description"],
        "type": row["type"],
        "status": row["status"],
        "priority": row["priority"],
        "dueDate": stamp(row["due_date"]),
        "dueDateOnly": row["due_date_only"],
        "estimatedDuration": row["estimated_duration"],
        "tags": row["tags"],
        "metadata": {"source": row["source"], "sourceId": row["source_id"], "sourceUrl": row["source_url"]},
        "challengeId": row["challenge_id"],
        "classification": camelize(classification) if classification else None,
        "completionData": {
            "completedAt": stamp(completed_at),
            "actualDuration": row["actual_duration"],
            "efficiency": row["efficiency"],
            "notes": row["completion_notes"],
        }
        if completed_at is not None
        else None,
        "createdAt": stamp(row["created_at"]),
        "updatedAt": stamp(row["updated_at"]),
        "version": row["version"],
        **recurrence_wire.fields(row),
    }


def tasks_to_dicts(tasks) -> list[dict]:
    """Wire shapes of task instances; the columns other apps own (`tasks.columns`) come
    from the instances when they were fetched with them, else from one query for all."""
    tasks = list(tasks)
    owned = columns.names()
    missing = [t.pk for t in tasks if not all(hasattr(t, name) for name in owned)]
    extra = columns.values_for(missing) if missing else {}
    recurring = recurrence_wire.rows_for(tasks) if tasks else {}
    out = []
    for task in tasks:
        row = {"id": task.pk, **recurring.get(task.pk, {})}
        for name in WIRE_FIELDS[1:]:
            if name in recurrence_wire.FIELDS:
                continue
            row[name] = extra[task.pk][name] if task.pk in extra and name in owned else getattr(task, name)
        out.append(row_to_dict(row))
    return out


def task_to_dict(task: Task) -> dict:
    return tasks_to_dicts([task])[0]


@extend_schema_field({"type": "string", "format": "date-time", "description": DATETIME_RULES})
class DueDateField(serializers.Field):
    """An ISO 8601 date-time, or a plain date (`2026-12-01`): due at the end of that day in the
    user's time zone, flagged `dueDateOnly`. Naive date-times are read in the user's zone."""

    default_error_messages = {"invalid": "Enter an ISO 8601 date (YYYY-MM-DD) or date-time."}

    def _tz(self):
        request = self.context.get("request")
        user = getattr(request, "user", None)
        return getattr(user, "tzinfo", None) or ZoneInfo("UTC")

    def to_internal_value(self, data):
        if not isinstance(data, str) or len(data) > 64:
            self.fail("invalid")
        data = data.strip()
        try:
            day = parse_date(data)  # a plain date first: fromisoformat would read it as midnight
            if day is not None:
                return self._bounded(datetime.combine(day, time(23, 59, 59), tzinfo=self._tz())), True
            parsed = parse_datetime(data)
        except ValueError:  # well-formed but impossible (2026-02-30)
            self.fail("invalid")
        if parsed is None:
            self.fail("invalid")
        if timezone.is_naive(parsed):
            parsed = parsed.replace(tzinfo=self._tz())
        return self._bounded(parsed), False

    def _bounded(self, value: datetime) -> datetime:
        try:
            return check_datetime(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc), code=ErrorCode.INVALID) from None

    def to_representation(self, value):
        return iso_utc(value)


class TaskMetadataSerializer(serializers.Serializer):
    source = ChoiceField(choices=TaskSource.choices, required=False)
    source_id = serializers.CharField(max_length=255, required=False, allow_blank=True)
    source_url = serializers.URLField(max_length=1000, required=False, allow_blank=True)


class TaskClassificationSerializer(serializers.Serializer):
    type = serializers.CharField()
    complexity = serializers.CharField()
    estimated_duration = serializers.IntegerField()
    keywords = serializers.ListField(child=serializers.CharField())
    source = serializers.CharField()


class TaskCompletionDataSerializer(serializers.Serializer):
    completed_at = DateTimeField()
    actual_duration = serializers.IntegerField(allow_null=True)
    efficiency = serializers.FloatField(allow_null=True)
    notes = serializers.CharField(allow_blank=True)


class TaskSerializer(StrictInputMixin, IdFieldsMixin, serializers.ModelSerializer):
    title = serializers.CharField(max_length=200, trim_whitespace=True)
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True, allow_null=True)
    type = ChoiceField(choices=TaskType.choices, required=False)
    status = ChoiceField(choices=TaskStatus.choices, required=False)
    priority = ChoiceField(choices=Priority.choices, required=False)
    due_date = DueDateField(required=False, allow_null=True)
    estimated_duration = serializers.IntegerField(
        min_value=1, max_value=MAX_DURATION_MINUTES, required=False, allow_null=True
    )
    tags = serializers.ListField(
        child=serializers.CharField(max_length=MAX_TAG_LENGTH, trim_whitespace=True, allow_blank=False),
        max_length=MAX_TAGS, required=False,
    )
    metadata = TaskMetadataSerializer(required=False)
    challenge_id = serializers.CharField(read_only=True, allow_null=True)
    classification = TaskClassificationSerializer(read_only=True, allow_null=True)
    completion_data = TaskCompletionDataSerializer(read_only=True, allow_null=True)
    due_date_only = serializers.BooleanField(read_only=True)
    version = serializers.IntegerField(read_only=True, help_text="Moved on at every write; send it back (or the ETag as `If-Match`) to refuse a stale write.")
    recurrence = RecurrenceSerializer(required=False, allow_null=True,
                                      help_text="Repeat the task (null stops the series); read: null when not repeating.")
    series_id = serializers.CharField(read_only=True, allow_null=True)
    occurrence_index = serializers.IntegerField(read_only=True, allow_null=True)
    series_streak = SeriesStreakSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Task
        fields = [
            "id", "title", "description", "type", "status", "priority", "due_date", "due_date_only",
            "estimated_duration", "tags", "metadata", "challenge_id", "classification", "completion_data",
            "created_at", "updated_at", "version", "recurrence", "series_id", "occurrence_index", "series_streak",
        ]
        read_only_fields = ["id", "created_at", "updated_at", "version"]

    def to_representation(self, instance):
        return task_to_dict(instance)

    def validate_tags(self, value):
        seen: dict[str, None] = {}
        for tag in value:
            seen.setdefault(tag, None)
        return list(seen)  # de-duplicated, order kept

    def validate_description(self, value):
        return value or ""

    def validate(self, attrs):
        due = attrs["due_date"][0] if attrs.get("due_date") else None
        if "due_date" not in attrs and self.instance is not None:
            due = self.instance.due_date
        if attrs.get("recurrence") and due is None:
            raise serializers.ValidationError(
                {"recurrence": [serializers.ErrorDetail("A repeating task needs a dueDate: the first occurrence.",
                                                        code=TaskError.RECURRENCE_NEEDS_DUE_DATE)]}
            )
        return attrs

    def to_service_fields(self) -> dict:
        """validated_data flattened into Task field names, for tasks.services."""
        data = dict(self.validated_data)
        if "due_date" in data:
            due = data.pop("due_date")
            data["due_date"], data["due_date_only"] = due if due is not None else (None, False)
        metadata = data.pop("metadata", None) or {}
        data.update(metadata)
        return data


class TaskWithEffectsSerializer(TaskSerializer):
    """A task plus `effects`, for complete / reopen / a status change by PATCH or PUT."""

    # Present when the change completed or reopened the task; a PUT/PATCH of other fields has none.
    effects = EffectsSerializer(required=False)

    class Meta(TaskSerializer.Meta):
        fields = [*TaskSerializer.Meta.fields, "effects"]


class CompleteTaskSerializer(StrictSerializer):
    actual_duration = serializers.IntegerField(min_value=1, max_value=MAX_DURATION_MINUTES, required=False,
                                               allow_null=True)
    notes = serializers.CharField(max_length=2000, required=False, allow_blank=True, allow_null=True)


class TaskDeletedSerializer(serializers.Serializer):
    message = serializers.CharField()


# What a PUT resets when left out (docs/api-contract.md, "PUT"): the content fields, to the
# values a create gives them.
REPLACED_ON_PUT = ("description", "type", "priority", "due_date", "due_date_only", "estimated_duration", "tags")


def replaced_defaults() -> dict:
    return {name: Task._meta.get_field(name).get_default() for name in REPLACED_ON_PUT}
