from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from django.db import models
from rest_framework import serializers
from rest_framework.serializers import ModelSerializer

from kernel.api.choices import ChoiceField
from kernel.api.errors import ErrorCode
from kernel.api.times import UTCDateTimeField


class DateTimeField(UTCDateTimeField, serializers.DateTimeField):
    """Out: UTC with `Z`, whatever zone is active. In: DRF's parsing, then check_datetime (an
    offset within ±14:00, sane years, converted to UTC)."""

    def to_internal_value(self, value):
        parsed = super().to_internal_value(value)
        try:
            return check_datetime(parsed)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc), code=ErrorCode.INVALID) from None


class IdFieldsMixin(serializers.Serializer):
    """Emit the id as both `_id` and `id` (API.md)."""

    serializer_choice_field = ChoiceField  # model choices also list the allowed values in errors
    serializer_field_mapping = {**ModelSerializer.serializer_field_mapping, models.DateTimeField: DateTimeField}

    def get_fields(self):
        # ModelSerializer rebuilds every field from the model for each serializer instance
        # (model introspection, field mapping, unique validators): most of the cost of answering
        # with one object. What it builds depends on the class alone, so it is built once per
        # class and each instance gets copies (fields copy from their constructor arguments).
        cls = type(self)
        prototypes = cls.__dict__.get("_field_prototypes")
        if prototypes is None:
            prototypes = super().get_fields()
            if "id" in prototypes and "_id" not in prototypes:
                prototypes["_id"] = serializers.CharField(source="pk", read_only=True)
            cls._field_prototypes = prototypes
        return copy.deepcopy(prototypes)


# Date-times from clients: real-world UTC offsets run from -12:00 to +14:00 (±14:00 is what
# ISO 8601 / RFC 3339 users expect, and PostgreSQL refuses larger displacements with an error
# that would be a 500); years far outside this range are typos or probes, and near year 1 or
# 9999 the conversion to UTC itself overflows.
MAX_UTC_OFFSET = timedelta(hours=14)
MIN_YEAR, MAX_YEAR = 1900, 2999
DATETIME_RULES = (
    f"ISO 8601; a UTC offset within ±14:00; years {MIN_YEAR}–{MAX_YEAR}. Stored and returned in UTC."
)


def check_datetime(value: datetime) -> datetime:
    """The same instant in UTC, or ValueError with a message for the client."""
    offset = value.utcoffset()
    if offset is not None and abs(offset) > MAX_UTC_OFFSET:
        raise ValueError("UTC offset must be within ±14:00.")
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"Year must be from {MIN_YEAR} to {MAX_YEAR}.")
    if offset is None:
        return value
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"Year must be from {MIN_YEAR} to {MAX_YEAR}.") from None
    if not MIN_YEAR <= utc.year <= MAX_YEAR:
        raise ValueError(f"Year must be from {MIN_YEAR} to {MAX_YEAR}.")
    return utc


# The name the request serializers use for a client-supplied date-time.
BoundedDateTimeField = DateTimeField
