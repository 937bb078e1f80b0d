"""Read helpers of notifications."""

from __future__ import annotations

from .models import Notification, NotificationSettings
from .serializers import NotificationSerializer, NotificationSettingsSerializer


def settings_of(user) -> NotificationSettings:
    """The user's settings; an unsaved default instance when they never changed any."""
    try:
        return user.notification_settings
    except NotificationSettings.DoesNotExist:
        return NotificationSettings(user=user)


def export_user(user) -> dict:
    """The user's notification settings and stored notifications (the user's data export)."""
    return {
        "settings": NotificationSettingsSerializer(settings_of(user)).data,
        "notifications": NotificationSerializer(Notification.objects.filter(user=user), many=True).data,
    }


def as_wire_rows(notifications) -> list[dict]:
    """Notifications in their API shape, for another app whose answer embeds them (a sync's)."""
    return NotificationSerializer(notifications, many=True).data


def of_user_by_ids(user, ids=None):
    """The user's notifications (those with these ids when given)."""
    qs = Notification.objects.filter(user=user)
    return qs if ids is None else qs.filter(pk__in=ids)
