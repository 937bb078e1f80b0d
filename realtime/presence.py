"""Connection tracking in Redis: who is online and how many sockets each user has.

Three sorted sets whose scores are expiry times (epoch seconds). A consumer registers its
socket on connect, refreshes it every HEARTBEAT_SECONDS and removes it on disconnect; a
daphne process that crashes stops refreshing, so its sockets fall out after TTL_SECONDS
(readers ignore expired members; the cleanup beat job also trims them).

    <prefix>:rt:conns            member "<user id> <channel name>"  (every live socket)
    <prefix>:rt:sockets:<user>   member "<channel name>"            (that user's sockets)
    <prefix>:rt:online           member "<user id>"                 (users with >= 1 socket)
"""

from __future__ import annotations

import time

from kernel.redis import get_redis, key

from .publisher import get_async_redis

TTL_SECONDS = 90
HEARTBEAT_SECONDS = 30


def conns_key() -> str:
    return key("rt", "conns")


def online_key() -> str:
    return key("rt", "online")


def sockets_key(user_id: str) -> str:
    return key("rt", "sockets", user_id)


async def register(user_id: str, channel_name: str) -> None:
    expires = time.time() + TTL_SECONDS
    r = get_async_redis()
    pipe = r.pipeline(transaction=False)
    pipe.zadd(conns_key(), {f"{user_id} {channel_name}": expires})
    pipe.zadd(sockets_key(user_id), {channel_name: expires})
    pipe.expire(sockets_key(user_id), TTL_SECONDS)
    pipe.zadd(online_key(), {user_id: expires})
    await pipe.execute()


async def refresh(user_id: str, channel_name: str) -> None:
    await register(user_id, channel_name)


async def unregister(user_id: str, channel_name: str) -> int:
    """Remove one socket; returns how many live sockets the user still has."""
    now = time.time()
    r = get_async_redis()
    pipe = r.pipeline(transaction=True)
    pipe.zrem(conns_key(), f"{user_id} {channel_name}")
    pipe.zrem(sockets_key(user_id), channel_name)
    pipe.zremrangebyscore(sockets_key(user_id), "-inf", now)
    pipe.zcard(sockets_key(user_id))
    results = await pipe.execute()
    remaining = int(results[-1])
    if remaining == 0:
        await r.zrem(online_key(), user_id)
    return remaining


# ------------------------------------------------------------------------------ sync readers
def socket_count(user_id: str) -> int:
    return int(get_redis().zcount(sockets_key(user_id), time.time(), "+inf"))


def is_online(user_id: str) -> bool:
    score = get_redis().zscore(online_key(), user_id)
    return score is not None and float(score) > time.time()


def online_user_ids() -> list[str]:
    return list(get_redis().zrangebyscore(online_key(), time.time(), "+inf"))


def counts() -> dict[str, int]:
    now = time.time()
    r = get_redis()
    pipe = r.pipeline(transaction=False)
    pipe.zcount(conns_key(), now, "+inf")
    pipe.zcount(online_key(), now, "+inf")
    connections, users = pipe.execute()
    return {"connections": int(connections), "online_users": int(users)}


def purge_expired() -> int:
    """Drop sockets of crashed processes. Returns how many socket entries were removed."""
    now = time.time()
    r = get_redis()
    pipe = r.pipeline(transaction=False)
    pipe.zremrangebyscore(conns_key(), "-inf", now)
    pipe.zremrangebyscore(online_key(), "-inf", now)
    removed, _ = pipe.execute()
    return int(removed)
