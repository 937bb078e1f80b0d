"""Reactions of the socket layer to account events (registered in RealtimeConfig.ready())."""

from __future__ import annotations

import logging

from accounts.events import UserActivationChanged, UserDeleted
from deepiri import events
from deepiri.redis import get_redis

from . import presence, publisher

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
