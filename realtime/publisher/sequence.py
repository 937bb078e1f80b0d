"""Per-user socket event ids: `INCR <prefix>:rt:seq:<user id>` in Redis, drawn only inside a
block reserved first in PostgreSQL (`EventSequence`), so ids never go backwards even when Redis
loses its data. Sync callers draw one at a time (`next_event_id`); consumers draw through a
per-loop batcher that takes every id asked for in one loop tick in one pipeline."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable

from channels.db import database_sync_to_async
from django.db import transaction

from kernel import wiring
from kernel.redis import get_redis, key

from ..models import EventSequence
from .async_redis import get_async_redis

SEQ_TTL_SECONDS = 90 * 24 * 3600  # an idle user's sequence expires; the next block starts above it


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
    with transaction.atomic():
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
