"""One Redis client per process, for leaderboards, locks, circuit breakers and live state.

With REDIS_URL unset this is an in-process fakeredis server (DESIGN.md: embedded default),
so the same code paths run with no Redis at all.
"""

from __future__ import annotations

import threading

from django.conf import settings

_client = None
_lock = threading.Lock()


def get_redis():
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                if settings.REDIS_URL:
                    import redis

                    _client = redis.Redis.from_url(
                        settings.REDIS_URL,
                        decode_responses=True,
                        socket_connect_timeout=2,
                        socket_timeout=2,
                        health_check_interval=30,
                    )
                else:
                    import fakeredis

                    _client = fakeredis.FakeRedis(decode_responses=True)
    return _client


def key(*parts) -> str:
    """A namespaced key: `deepiri:<part>:<part>` (REDIS_KEY_PREFIX keeps shared servers apart)."""
    return ":".join([settings.REDIS_KEY_PREFIX, *map(str, parts)])
