"""Notifications' wiring: notices for events of apps below this one (they cannot call `notify`
themselves) and what it plugs into the registries below it (`register()`, called from
NotificationsConfig.ready())."""

from __future__ import annotations

from accounts.events import FriendRequested, PersonalAccessTokenExpiring
from kernel import events, exports, health
from kernel.api.times import iso_utc
from realtime import publisher

from . import selectors, services, webpush
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


def on_token_expiring(event) -> None:
    token = event.token
    services.notify(
        event.user,
        NotificationType.SYSTEM,
        f"Your access token \u201c{token.name}\u201d expires soon",
        f"The personal access token \u201c{token.name}\u201d expires on {token.expiry_date:%Y-%m-%d %H:%M} UTC. "
        "Regenerate it in your account settings to keep your automations running.",
        data={"kind": "token_expiring", "token_id": str(token.pk), "expires_at": iso_utc(token.expiry_date)},
        priority=Priority.HIGH,
        dedupe_key=f"token-expiring:{token.pk}:{token.expiry_date:%Y%m%d%H%M%S}",
    )


def register() -> None:
    events.subscribe(FriendRequested, on_friend_requested, after_commit=True)
    # In the claiming transaction: the notice is stored together with the token's "noticed" flag.
    events.subscribe(PersonalAccessTokenExpiring, on_token_expiring, after_commit=False)
    exports.register("notifications", selectors.export_user)
    publisher.register_sequence_floor(services.highest_pushed_id)
    health.register_check("webpush", webpush.health, required=False)
