"""The one publisher of WebSocket events (API.md "WebSocket `/ws/`"), by concern:

    wire.py         group names, channel-layer message types, the event envelope
    sequence.py     per-user event ids (Redis sequence inside PostgreSQL-reserved blocks, floors)
    sending.py      the hand-off to the channel layer (serving loop, per-process send loop)
    publish.py      publishing to users and rooms, now or after commit; closing a user's sockets
    async_redis.py  the per-loop asyncio Redis client consumers use

Services of any app above call, inside or outside a transaction:

    publish_to_user(user_id, "notification", {"notification": {...}})
    publish_to_room("leaderboard:week", "leaderboard-update", {...})

Nothing is sent before the surrounding transaction commits (a rolled-back request never
notifies anyone). Every event a client receives carries `type`, `id` and `ts`:

- `id` is a per-user increasing number, `INCR <prefix>:rt:seq:<user id>` in Redis, so it
  survives daphne restarts and is shared by every socket and process of that user. It never
  goes backwards, even when Redis loses its data: ids are drawn only inside a block reserved
  first in PostgreSQL (`EventSequence`, a thousand at a time), and a sequence Redis forgot
  restarts above the last reservation.
  Events for one user get their id and are handed to the channel layer under a short
  per-user Redis lock, so a client that has seen id N has been sent every user event below N:
  `GET /api/notifications?since=N` then returns exactly what it missed.
- Room events (a session, a leaderboard) go to many users, so the consumer that delivers one
  draws the id from that socket's user's sequence at delivery time.
- `ts` is the ISO-8601 UTC time the event was published.

Payload keys are written in snake_case (like serializers) and camelized here with the REST
renderer's own `kernel.api.casing.camelize` (`_id` is kept).

Callers use this package's names (`publisher.publish_to_user(...)`).
"""

from ..registry import InvalidRoom, parse_room
from .async_redis import get_async_redis
from .publish import close_user_sockets, publish_to_room, publish_to_user, send_to_room_now, send_to_user_now
from .sending import remember_loop, send_loop
from .sequence import (
    anext_event_id,
    ceiling_key,
    next_event_id,
    register_sequence_floor,
    seq_key,
)
from .wire import build_event, now_ts, room_group, user_group

__all__ = [
    "InvalidRoom",  # callers name rooms through the publisher
    "anext_event_id",
    "build_event",
    "ceiling_key",
    "close_user_sockets",
    "get_async_redis",
    "next_event_id",
    "now_ts",
    "parse_room",
    "publish_to_room",
    "publish_to_user",
    "register_sequence_floor",
    "remember_loop",
    "room_group",
    "send_loop",
    "send_to_room_now",
    "send_to_user_now",
    "seq_key",
    "user_group",
]
