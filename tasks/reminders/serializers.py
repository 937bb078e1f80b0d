"""The wire shape of a reminder: `{id, taskId, offsetSeconds, localTime, at, channels, fireAt,
status, firedAt, isDefault, createdAt}`; a client sends exactly one of `offsetSeconds`,
`localTime` ("HH:MM", the user's zone, on the due day) and `at`, and optionally `channels`."""

from __future__ import annotations

from django.utils import timezone
from rest_framework import serializers

from kernel.api.errors import ErrorCode
from kernel.api.fields import DateTimeField, IdFieldsMixin
from kernel.api.strict import StrictSerializer

from .models import MAX_OFFSET_SECONDS, MIN_OFFSET_SECONDS, Reminder
from .services import CHANNELS

MAX_AHEAD_DAYS = 5 * 365


class ReminderSerializer(IdFieldsMixin, serializers.ModelSerializer):
    task_id = serializers.CharField(read_only=True)
    local_time = serializers.TimeField(format="%H:%M", read_only=True, allow_null=True)
    at = DateTimeField(read_only=True, allow_null=True)
    fire_at = DateTimeField(read_only=True, allow_null=True)
    fired_at = DateTimeField(read_only=True, allow_null=True)
    created_at = DateTimeField(read_only=True)

    class Meta:
        model = Reminder
        fields = (
            "id", "task_id", "offset_seconds", "local_time", "at", "channels", "fire_at", "status", "fired_at",
            "is_default", "created_at",
        )
        read_only_fields = fields


class ReminderCreateSerializer(StrictSerializer):
    offset_seconds = serializers.IntegerField(
        required=False, allow_null=True, min_value=MIN_OFFSET_SECONDS, max_value=MAX_OFFSET_SECONDS
    )
    local_time = serializers.TimeField(required=False, allow_null=True, input_formats=["%H:%M"])
    at = DateTimeField(required=False, allow_null=True)
    channels = serializers.ListField(
        child=serializers.ChoiceField(choices=CHANNELS), required=False, min_length=1, max_length=len(CHANNELS)
    )

    def validate_at(self, value):
        if value is None:
            return value
        now = timezone.now()
        if value <= now:
            raise serializers.ValidationError("Must be in the future.", code=ErrorCode.INVALID)
        if value > now + timezone.timedelta(days=MAX_AHEAD_DAYS):
            raise serializers.ValidationError("At most five years ahead.", code=ErrorCode.INVALID)
        return value

    def validate_channels(self, value):
        if len(set(value)) != len(value):
            raise serializers.ValidationError("Each channel at most once.", code=ErrorCode.INVALID)
        return value

    def validate(self, attrs):
        given = [name for name in ("offset_seconds", "local_time", "at") if attrs.get(name) is not None]
        if len(given) != 1:
            raise serializers.ValidationError(
                {"non_field_errors": ["Give exactly one of offsetSeconds, localTime and at."]}, code=ErrorCode.INVALID
            )
        return attrs
