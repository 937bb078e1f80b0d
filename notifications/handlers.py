"""Notifications' wiring: notices for events of apps below this one (they cannot call `notify`
themselves) and what it plugs into the registries below it (`register()`, called from
NotificationsConfig.ready())."""

from __future__ import annotations

from accounts.events import FriendRequested
from kernel import events, exports
from realtime import publisher

from . import selectors, services
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


def register() -> None:
    events.subscribe(FriendRequested, on_friend_requested, after_commit=True)
    exports.register("notifications", selectors.export_user)
    publisher.register_sequence_floor(services.highest_pushed_id)
