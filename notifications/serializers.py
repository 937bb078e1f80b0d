from __future__ import annotations

from rest_framework import serializers

from kernel.api.choices import ChoiceField
from kernel.api.fields import DateTimeField, IdFieldsMixin
from kernel.api.strict import StrictSerializer
from kernel.ids import is_valid_id

from . import webpush
from .models import Channel, Notification, NotificationSettings, NotificationType, PushSubscription


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
    """`{inApp, email, webPush, defaultReminders, types: {<type>: {inApp, email, push}}}`; `push` at
    the top is accepted for `inApp` (original client); web push is `webPush` there."""

    in_app = serializers.BooleanField(required=False, source="in_app_enabled")
    push = serializers.BooleanField(required=False, write_only=True)
    email = serializers.BooleanField(required=False, source="email_enabled")
    web_push = serializers.BooleanField(required=False, source="web_push_enabled")
    default_reminders = serializers.BooleanField(required=False)
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
            "web_push": instance.web_push_enabled,
            "default_reminders": instance.default_reminders,
            "types": instance.effective_types(),
        }


class PushSubscriptionKeysSerializer(StrictSerializer):
    p256dh = serializers.CharField(max_length=200)
    auth = serializers.CharField(max_length=100)


class PushSubscriptionInSerializer(StrictSerializer):
    """What the browser's `PushSubscription.toJSON()` gives: `{endpoint, expirationTime, keys}`."""

    endpoint = serializers.CharField(max_length=1000)
    expiration_time = serializers.IntegerField(required=False, allow_null=True)
    keys = PushSubscriptionKeysSerializer()
    user_agent = serializers.CharField(max_length=300, required=False, allow_blank=True)

    def validate_endpoint(self, value: str) -> str:
        try:
            return webpush.check_endpoint(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc

    def validate_keys(self, value: dict) -> dict:
        try:
            webpush.check_keys(value["p256dh"], value["auth"])
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc
        return value


class PushSubscriptionDeleteSerializer(StrictSerializer):
    endpoint = serializers.CharField(max_length=1000)


class PushSubscriptionSerializer(IdFieldsMixin, serializers.ModelSerializer):
    created_at = DateTimeField(read_only=True)

    class Meta:
        model = PushSubscription
        fields = ("id", "endpoint", "user_agent", "created_at")
        read_only_fields = fields


class VapidKeySerializer(serializers.Serializer):
    public_key = serializers.CharField()
