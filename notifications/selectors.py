"""Read helpers of notifications."""

from __future__ import annotations

from . import services
from .models import Notification


def export_user(user) -> dict:
    """The user's notification settings and stored notifications (the user's data export)."""
    from .serializers import NotificationSerializer, NotificationSettingsSerializer

    return {
        "settings": NotificationSettingsSerializer(services.get_settings(user)).data,
        "notifications": NotificationSerializer(Notification.objects.filter(user=user), many=True).data,
    }
