"""Publishing to users and rooms: now (`send_to_user_now`, `send_to_room_now`) or after the
caller's transaction commits (`publish_to_user`, `publish_to_room`), and closing a user's sockets."""

from __future__ import annotations

import logging

from django.db import transaction

from kernel import tracing
from kernel.redis import get_redis, key

from .sending import group_send
from .sequence import next_event_id
from .wire import CLOSE_MESSAGE, ROOM_MESSAGE, USER_MESSAGE, build_event, room_group, user_group

logger = logging.getLogger(__name__)


def send_to_user_now(user_id: str, event_type: str, payload: dict | None = None, *, on_event_id=None) -> dict:
    """Assign the next id and hand the event to the channel layer now (no transaction wait).

    `on_event_id(event_id)` runs under the per-user lock before the send (notify() stores the
    id on the notification row there, so `since` and the socket agree).
    """
    with tracing.span("realtime.publish", **{"realtime.event": event_type, "realtime.target": "user"}):
        return _send_to_user_now(user_id, event_type, payload, on_event_id=on_event_id)


def _send_to_user_now(user_id: str, event_type: str, payload: dict | None, *, on_event_id) -> dict:
    r = get_redis()
    lock = r.lock(key("rt", "publock", user_id), timeout=5, blocking_timeout=3)
    acquired = False
    try:
        acquired = lock.acquire()
    except Exception:  # Redis trouble: still deliver, ordering is best effort
        logger.warning("realtime: could not take the publish lock for %s", user_id, exc_info=True)
    try:
        event_id = next_event_id(user_id)
        if on_event_id is not None:
            on_event_id(event_id)  # may complete the payload (the notification's own eventId)
        event = build_event(event_type, payload, event_id=event_id)
        group_send(user_group(user_id), {"type": USER_MESSAGE, "event": event})
        return event
    finally:
        if acquired:
            try:
                lock.release()
            except Exception:
                logger.debug("realtime: publish lock expired before release", exc_info=True)


def send_to_room_now(room: str, event_type: str, payload: dict | None = None) -> dict:
    with tracing.span("realtime.publish", **{"realtime.event": event_type, "realtime.target": "room"}):
        event = build_event(event_type, payload)
        group_send(room_group(room), {"type": ROOM_MESSAGE, "room": room, "event": event})
        return event


def close_user_sockets(user_id: str, code: int = 4401) -> None:
    """Close every open socket of a user now (deactivated or deleted account)."""
    group_send(user_group(str(user_id)), {"type": CLOSE_MESSAGE, "code": code})


def _guarded(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except Exception:  # a push must never break the request that already committed
        logger.exception("realtime: %s failed", getattr(fn, "__name__", fn))


def publish_to_user(user_id: str, event_type: str, payload: dict | None = None, *, on_event_id=None) -> None:
    """Send `event_type` to every socket of `user_id` once the current transaction commits."""
    user_id = str(user_id)
    transaction.on_commit(lambda: _guarded(send_to_user_now, user_id, event_type, payload, on_event_id=on_event_id))


def publish_to_room(room: str, event_type: str, payload: dict | None = None) -> None:
    """Send `event_type` to every socket that joined `room`, after commit."""
    room_group(room)  # validate now, in the caller's frame
    transaction.on_commit(lambda: _guarded(send_to_room_now, room, event_type, payload))
