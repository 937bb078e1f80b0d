from __future__ import annotations

from rest_framework import serializers

from kernel.api.choices import ChoiceField
from kernel.api.fields import DateTimeField, IdFieldsMixin
from kernel.api.strict import StrictSerializer
from kernel.ids import is_valid_id

from .models import Channel, Notification, NotificationSettings, NotificationType


class NotificationSerializer(IdFieldsMixin, serializers.ModelSerializer):
    read = serializers.BooleanField(read_only=True)
    status = serializers.CharField(read_only=True)
    timestamp = DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = Notification
        fields = (
            "id",
            "type",
            "title",
            "message",
            "data",
            "priority",
            "read",
            "read_at",
            "status",
            "event_id",
            "timestamp",
            "created_at",
            "version",
        )
        read_only_fields = fields


class NotificationListQuerySerializer(serializers.Serializer):
    unread_only = serializers.BooleanField(required=False, default=False)
    since = serializers.CharField(required=False, max_length=24)
    type = ChoiceField(choices=NotificationType.choices, required=False)

    def validate_since(self, value: str):
        """A socket event id (`eventId`, digits) or a notification's `id`: both mark a point in the
        user's stream, and a client may hold either."""
        if value.isdigit() and len(value) <= 18:
            return int(value)
        if is_valid_id(value):
            return value
        raise serializers.ValidationError("Must be a socket event id (eventId) or a notification id.")


class CountSerializer(serializers.Serializer):
    count = serializers.IntegerField()


class MarkAllReadSerializer(serializers.Serializer):
    updated = serializers.IntegerField()


class NotificationSettingsSerializer(StrictSerializer):
    """`{inApp, email, types: {<type>: {inApp, email}}}`; `push` is accepted for `inApp` (original client)."""

    in_app = serializers.BooleanField(required=False, source="in_app_enabled")
    push = serializers.BooleanField(required=False, write_only=True)
    email = serializers.BooleanField(required=False, source="email_enabled")
    types = serializers.DictField(child=serializers.DictField(child=serializers.BooleanField()), required=False)

    def validate_types(self, value):
        unknown = sorted(set(value) - set(NotificationType.values))
        if unknown:
            raise serializers.ValidationError(
                f"Unknown notification type(s): {', '.join(unknown)}. Known: {', '.join(NotificationType.values)}."
            )
        bad_channels = sorted({ch for channels in value.values() for ch in channels} - set(Channel.values))
        if bad_channels:
            raise serializers.ValidationError(
                f"Unknown channel(s): {', '.join(bad_channels)}. Known: {', '.join(Channel.values)}."
            )
        return value

    def validate(self, attrs):
        push = attrs.pop("push", None)
        if push is not None and "in_app_enabled" not in attrs:
            attrs["in_app_enabled"] = push
        return attrs

    def to_representation(self, instance: NotificationSettings):
        return {
            "in_app": instance.in_app_enabled,
            "email": instance.email_enabled,
            "types": instance.effective_types(),
        }
