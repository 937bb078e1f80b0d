"""The socket layer's wiring: its reactions to account events and its `/metrics` gauges
(`register()`, called from RealtimeConfig.ready())."""

from __future__ import annotations

import logging

from accounts.events import UserActivationChanged, UserDeleted
from kernel import events, wiring
from kernel.metrics import register_collector
from kernel.redis import get_redis

from . import metrics, presence, publisher
from .consumers import RealtimeConsumer

logger = logging.getLogger(__name__)


def on_user_activation_changed(event: UserActivationChanged) -> None:
    """A deactivated user's open sockets close at once (4401), as their tokens stop working."""
    if not event.active:
        publisher.close_user_sockets(str(event.user.pk))


def on_user_deleted(event: UserDeleted) -> None:
    """Rows go with the account (FK cascade); the Redis side (event sequence, sockets) goes here."""
    user_id = event.user_id
    try:
        publisher.close_user_sockets(str(user_id))
    except Exception:
        logger.warning("could not close the sockets of deleted user %s", user_id, exc_info=True)
    r = get_redis()
    r.delete(publisher.seq_key(str(user_id)), presence.sockets_key(str(user_id)))
    r.zrem(presence.online_key(), str(user_id))


def register() -> None:
    events.subscribe(UserDeleted, on_user_deleted, after_commit=True)
    events.subscribe(UserActivationChanged, on_user_activation_changed, after_commit=True)
    for collector in (metrics.realtime_metrics, metrics.socketio_metrics):
        register_collector(collector)
    # The socket's own message types, beside the commands the apps register, so that the
    # printed wiring lists everything a socket may send.
    for message_type, method in RealtimeConsumer.HANDLERS.items():
        wiring.record("socket commands", message_type, f"realtime.consumers.RealtimeConsumer.{method}")
