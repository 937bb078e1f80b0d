"""The one publisher of WebSocket events (API.md "WebSocket `/ws/`").

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
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import Callable
from datetime import UTC, datetime

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.db import transaction

from kernel import tracing, wiring
from kernel.api.casing import camelize
from kernel.redis import RedisSkipped, get_redis, key
from kernel.redis import breaker as redis_breaker
from kernel.redis import skipping as redis_skipping

from .per_process import PerProcess
from .registry import InvalidRoom, parse_room

logger = logging.getLogger(__name__)

# Channel-layer message types, handled by `RealtimeConsumer.rt_user` / `rt_room` / `rt_close`.
USER_MESSAGE = "rt.user"
ROOM_MESSAGE = "rt.room"

SEQ_TTL_SECONDS = 90 * 24 * 3600  # an idle user's sequence expires; the next block starts above it

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


def ceiling_key(user_id: str) -> str:
    return key("rt", "ceil", user_id)


# Draw ARGV[1] ids from the sequence (KEYS[1]) if they stay within the reserved ceiling
# (KEYS[2]): returns {last id}, or {-1, current} when a block must be reserved first (the
# ceiling is reached, or Redis lost both keys).
_DRAW = """
local ceil = tonumber(redis.call('GET', KEYS[2]) or '-1')
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local n = tonumber(ARGV[1])
if ceil < 0 or cur + n > ceil then return {-1, cur} end
local last = redis.call('INCRBY', KEYS[1], n)
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return {last}
"""
# Install a reserved block: the sequence moves up to ARGV[1] (never down), the ceiling up to ARGV[2].
_INSTALL = """
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3]) end
local ceil = tonumber(redis.call('GET', KEYS[2]) or '-1')
if ceil < tonumber(ARGV[2]) then redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3]) end
return 1
"""
BLOCK = 1000  # ids per PostgreSQL reservation: one row update per thousand events of a user


def reserve_block(user_id: str, current: int, n: int = 1) -> tuple[int, int]:
    """Reserve the next block of ids in PostgreSQL: (start, ceiling). `start` is above every id
    handed out before: the stored reservation, the sequence Redis still has (`current`), and,
    for a user never reserved, every id stored elsewhere (notifications)."""
    from django.db import transaction as db_transaction

    from .models import EventSequence

    with db_transaction.atomic():
        row = EventSequence.objects.select_for_update().filter(user_id=user_id).first()
        if row is None:
            floor = max((f(user_id) or 0 for f in _sequence_floors), default=0)
            row, _ = EventSequence.objects.get_or_create(user_id=user_id, defaults={"reserved": floor})
            row = EventSequence.objects.select_for_update().get(user_id=user_id)
        start = max(row.reserved, int(current))
        row.reserved = start + max(BLOCK, n)
        row.save(update_fields=["reserved", "updated_at"])
    return start, row.reserved


def _install(client, user_id: str, start: int, ceiling: int):
    return client.eval(_INSTALL, 2, seq_key(user_id), ceiling_key(user_id), start, ceiling, SEQ_TTL_SECONDS)


def next_event_ids(user_id: str, n: int = 1) -> int:
    """Draw `n` ids for `user_id`; returns the last (the ids are last-n+1 .. last)."""
    r = get_redis()
    for _ in range(5):
        result = r.eval(_DRAW, 2, seq_key(user_id), ceiling_key(user_id), n, SEQ_TTL_SECONDS)
        if int(result[0]) >= 0:
            return int(result[0])
        start, ceiling = reserve_block(user_id, int(result[1]), n)
        _install(r, user_id, start, ceiling)
    raise RuntimeError(f"could not reserve socket event ids for {user_id}")


def next_event_id(user_id: str) -> int:
    return next_event_ids(user_id, 1)


# Ids already handed out and stored elsewhere (notifications keep the id they were pushed with):
# the first reservation of a user starts above them. An app that stores ids registers a
# function `user_id -> highest stored id | None`.
_sequence_floors: list[Callable[[str], int | None]] = []


def register_sequence_floor(highest_stored_id: Callable[[str], int | None]) -> None:
    if highest_stored_id not in _sequence_floors:
        _sequence_floors.append(highest_stored_id)
    wiring.record("socket sequence floors", wiring.describe(highest_stored_id), highest_stored_id)


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


SEND_TIMEOUT_SECONDS = 5
# The Redis channel layer lives on the same Redis as everything else: a send that does not
# finish in this time counts as that Redis hanging (kernel.redis' breaker), and while the
# breaker skips Redis no send is attempted, so a hung Redis holds one request this long at most.
REDIS_SEND_TIMEOUT_SECONDS = 2


def _start_send_loop() -> asyncio.AbstractEventLoop:
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, name="realtime-send-loop", daemon=True).start()
    return loop


_send_loop = PerProcess(_start_send_loop)


def send_loop() -> asyncio.AbstractEventLoop:
    """This process's event loop for sends from sync code (requests, Celery tasks, timers).

    `async_to_sync` would start a new event loop for every send from a plain thread, and the
    channel layer keeps its Redis connections per loop: every send then connected to Redis and
    closed again. Handed to this one loop, in a daemon thread, sends reuse its connections.
    A forked child (a gunicorn or Celery worker) starts its own.
    """
    return _send_loop.get()


def _send_on(loop: asyncio.AbstractEventLoop, coroutine, *, over_redis: bool = False) -> None:
    future = asyncio.run_coroutine_threadsafe(coroutine, loop)
    try:
        future.result(timeout=REDIS_SEND_TIMEOUT_SECONDS if over_redis else SEND_TIMEOUT_SECONDS)
    except TimeoutError:
        future.cancel()  # a stuck channel layer must not hold the caller, nor pile up sends
        if over_redis:
            redis_breaker.timed_out()
        raise


def _group_send(group: str, message: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    trace = tracing.inject({})
    if trace:  # the consumer delivering it continues the trace of the work that published it
        message = {**message, "trace": trace}
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    loop = _memory_layer_loop
    if isinstance(layer, InMemoryChannelLayer):
        if loop is not None and loop.is_running() and running is not loop:
            # The in-memory layer's queues belong to the serving loop; a plain thread (a timer,
            # an eager Celery task) must hand the send to that loop rather than start its own.
            _send_on(loop, layer.group_send(group, message))
            return
    elif running is None:
        if redis_skipping():
            raise RedisSkipped("channel layer send skipped: Redis timed out moments ago")
        _send_on(send_loop(), layer.group_send(group, message), over_redis=True)
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
            lasts = await self._draw({user_id: len(futures) for user_id, futures in batch.items()})
        except Exception as exc:
            for futures in batch.values():
                for future in futures:
                    if not future.done():
                        future.set_exception(exc)
            return
        for user_id, futures in batch.items():
            first = lasts[user_id] - len(futures) + 1
            for offset, future in enumerate(futures):
                if not future.done():
                    future.set_result(first + offset)

    async def _draw(self, wanted: dict[str, int]) -> dict[str, int]:
        """One pipeline for every user; a user whose block ran out (or whom Redis forgot) gets a
        new block from PostgreSQL and is drawn again."""
        from channels.db import database_sync_to_async

        client = get_async_redis()
        lasts: dict[str, int] = {}
        for _ in range(5):
            pipe = client.pipeline(transaction=False)
            users = list(wanted)
            for user_id in users:
                pipe.eval(_DRAW, 2, seq_key(user_id), ceiling_key(user_id), wanted[user_id], SEQ_TTL_SECONDS)
            results = await pipe.execute()
            short = {}
            for user_id, result in zip(users, results, strict=True):
                if int(result[0]) >= 0:
                    lasts[user_id] = int(result[0])
                else:
                    short[user_id] = int(result[1])
            if not short:
                return lasts
            for user_id, current in short.items():
                start, ceiling = await database_sync_to_async(reserve_block)(user_id, current, wanted[user_id])
                await _install(client, user_id, start, ceiling)
            wanted = {user_id: wanted[user_id] for user_id in short}
        raise RuntimeError("could not reserve socket event ids")


_batchers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


async def anext_event_id(user_id: str) -> int:
    loop = asyncio.get_running_loop()
    batcher = _batchers.get(loop)
    if batcher is None:
        batcher = _batchers[loop] = _SequenceBatcher(loop)
    return await batcher.next_id(user_id)
