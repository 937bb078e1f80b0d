"""The one publisher of WebSocket events (API.md "WebSocket `/ws/`").

Services of any app above call, inside or outside a transaction:

    publish_to_user(user_id, "notification", {"notification": {...}})
    publish_to_room("leaderboard:week", "leaderboard-update", {...})

Nothing is sent before the surrounding transaction commits (a rolled-back request never
notifies anyone). Every event a client receives carries `type`, `id` and `ts`:

- `id` is a per-user increasing number, `INCR <prefix>:rt:seq:<user id>` in Redis, so it
  survives daphne restarts and is shared by every socket and process of that user.
  Events for one user get their id and are handed to the channel layer under a short
  per-user Redis lock, so a client that has seen id N has been sent every user event below N:
  `GET /api/notifications?since=N` then returns exactly what it missed.
- Room events (a session, a leaderboard) go to many users, so the consumer that delivers one
  draws the id from that socket's user's sequence at delivery time.
- `ts` is the ISO-8601 UTC time the event was published.

Payload keys are written in snake_case (like serializers) and camelized here with the REST
renderer's own `deepiri.api.casing.camelize` (`_id` is kept).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from datetime import UTC, datetime

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.db import transaction

from deepiri import tracing
from deepiri.api.casing import camelize
from deepiri.redis import get_redis, key

from .registry import InvalidRoom, parse_room

logger = logging.getLogger(__name__)

# Channel-layer message types, handled by `RealtimeConsumer.rt_user` / `rt_room` / `rt_close`.
USER_MESSAGE = "rt.user"
ROOM_MESSAGE = "rt.room"

SEQ_TTL_SECONDS = 90 * 24 * 3600  # an idle user's sequence expires; ids then restart above the last notification

__all__ = ["InvalidRoom", "parse_room"]  # re-exported: callers name rooms through the publisher


# ------------------------------------------------------------------------------ names
def user_group(user_id: str) -> str:
    return f"user.{user_id}"


def room_group(room: str) -> str:
    kind, ident = parse_room(room)
    return f"room.{kind}.{ident}"


# ------------------------------------------------------------------------------ wire format
def now_ts() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def seq_key(user_id: str) -> str:
    return key("rt", "seq", user_id)


def next_event_id(user_id: str) -> int:
    r = get_redis()
    pipe = r.pipeline(transaction=True)
    pipe.incr(seq_key(user_id))
    pipe.expire(seq_key(user_id), SEQ_TTL_SECONDS)
    event_id, _ = pipe.execute()
    return int(event_id)


def ensure_sequence_floor(user_id: str, floor: int) -> None:
    """After a Redis loss the sequence must not restart below ids already stored in SQL."""
    r = get_redis()
    current = r.get(seq_key(user_id))
    if current is None or int(current) < floor:
        r.set(seq_key(user_id), floor, ex=SEQ_TTL_SECONDS)


# Ids already handed out and stored elsewhere (notifications keep the id they were pushed with).
# An app that stores ids registers a function `user_id -> highest stored id | None`.
_sequence_floors: list[Callable[[str], int | None]] = []


def register_sequence_floor(highest_stored_id: Callable[[str], int | None]) -> None:
    if highest_stored_id not in _sequence_floors:
        _sequence_floors.append(highest_stored_id)


def restore_sequence_floor(user_id: str) -> None:
    """Redis lost the user's sequence: start it above every id stored elsewhere, never reuse one."""
    floor = max((f(user_id) or 0 for f in _sequence_floors), default=0)
    if floor:
        ensure_sequence_floor(user_id, floor)


def build_event(event_type: str, payload: dict | None, *, event_id: int | None = None, ts: str | None = None) -> dict:
    event = {"type": event_type}
    if event_id is not None:
        event["id"] = event_id
    event["ts"] = ts or now_ts()
    event.update(camelize(payload or {}))
    return event


# ------------------------------------------------------------------------------ sending
_memory_layer_loop: asyncio.AbstractEventLoop | None = None


def remember_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Called by the consumer: the loop that owns the in-memory layer's queues (embedded mode)."""
    global _memory_layer_loop
    _memory_layer_loop = loop


def _group_send(group: str, message: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    trace = tracing.inject({})
    if trace:  # the consumer delivering it continues the trace of the work that published it
        message = {**message, "trace": trace}
    loop = _memory_layer_loop
    if isinstance(layer, InMemoryChannelLayer) and loop is not None and loop.is_running():
        # The in-memory layer's queues belong to the serving loop; a plain thread (a timer, an
        # eager Celery task) must hand the send to that loop rather than start its own.
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not loop:
            asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop).result(timeout=5)
            return
    async_to_sync(layer.group_send)(group, message)


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
        _group_send(user_group(user_id), {"type": USER_MESSAGE, "event": event})
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
        _group_send(room_group(room), {"type": ROOM_MESSAGE, "room": room, "event": event})
        return event


CLOSE_MESSAGE = "rt.close"


def close_user_sockets(user_id: str, code: int = 4401) -> None:
    """Close every open socket of a user now (deactivated or deleted account)."""
    _group_send(user_group(str(user_id)), {"type": CLOSE_MESSAGE, "code": code})


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


# ------------------------------------------------------------------------------ async Redis for consumers
class _AsyncPipeline:
    def __init__(self, pipe):
        self._pipe = pipe

    def __getattr__(self, name):
        attr = getattr(self._pipe, name)

        def queue(*args, **kwargs):
            attr(*args, **kwargs)
            return self

        return queue

    async def execute(self):
        return self._pipe.execute()


class _AsyncAdapter:
    """The embedded (fakeredis) client with an awaitable surface; it never blocks on I/O."""

    def __init__(self, client):
        self._client = client

    def pipeline(self, transaction=True):
        return _AsyncPipeline(self._client.pipeline(transaction=transaction))

    def __getattr__(self, name):
        attr = getattr(self._client, name)

        async def call(*args, **kwargs):
            return attr(*args, **kwargs)

        return call


_async_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def get_async_redis():
    """An asyncio Redis client for the running event loop (consumers must not block the loop)."""
    if not settings.REDIS_URL:
        return _AsyncAdapter(get_redis())
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(
            settings.REDIS_URL, decode_responses=True, socket_connect_timeout=2, socket_timeout=2
        )
        _async_clients[loop] = client
        _close_with_loop(loop, client)
    return client


def _close_with_loop(loop: asyncio.AbstractEventLoop, client) -> None:
    """Close the client's connections when its loop closes (as channels_redis does for its own),
    instead of leaving them to the garbage collector after the loop is gone."""
    original_close = loop.close

    def close(*args, **kwargs):
        try:
            if not loop.is_running():
                loop.run_until_complete(client.aclose())
        except Exception:
            logger.debug("realtime: closing the async Redis client failed", exc_info=True)
        finally:
            loop.close = original_close
        return original_close(*args, **kwargs)

    loop.close = close


class _SequenceBatcher:
    """Per event loop: the ids asked for in the same loop tick are drawn in one Redis pipeline
    (`INCRBY seq:<user> <n>` per user). A room broadcast to 1,000 sockets of one daphne then
    costs one round trip for the ids instead of 1,000."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.pending: dict[str, list[asyncio.Future]] = {}
        self.scheduled = False

    async def next_id(self, user_id: str) -> int:
        future = self.loop.create_future()
        self.pending.setdefault(user_id, []).append(future)
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(lambda: asyncio.ensure_future(self.flush()))
        return await future

    async def flush(self) -> None:
        batch, self.pending, self.scheduled = self.pending, {}, False
        if not batch:
            return
        try:
            pipe = get_async_redis().pipeline(transaction=False)
            for user_id, futures in batch.items():
                pipe.incrby(seq_key(user_id), len(futures))
                pipe.expire(seq_key(user_id), SEQ_TTL_SECONDS)
            results = await pipe.execute()
        except Exception as exc:
            for futures in batch.values():
                for future in futures:
                    if not future.done():
                        future.set_exception(exc)
            return
        for index, futures in enumerate(batch.values()):
            first = int(results[2 * index]) - len(futures) + 1
            for offset, future in enumerate(futures):
                if not future.done():
                    future.set_result(first + offset)


_batchers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


async def anext_event_id(user_id: str) -> int:
    loop = asyncio.get_running_loop()
    batcher = _batchers.get(loop)
    if batcher is None:
        batcher = _batchers[loop] = _SequenceBatcher(loop)
    return await batcher.next_id(user_id)
