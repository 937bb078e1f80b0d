"""Notices for events of apps below this one (they cannot call `notify` themselves)."""

from __future__ import annotations

from . import services
from .models import NotificationType, Priority


def on_friend_requested(event) -> None:
    request = event.request
    sender = request.from_user
    services.notify(
        request.to_user,
        NotificationType.FRIEND_REQUEST,
        f"{sender.name} wants to be friends",
        f"{sender.name} sent you a friend request. Accept it to see each other on the friends leaderboard.",
        data={"request_id": str(request.pk), "from_user_id": str(sender.pk), "from_name": sender.name},
        priority=Priority.MEDIUM,
        dedupe_key=f"friend-request:{request.pk}",
    )
