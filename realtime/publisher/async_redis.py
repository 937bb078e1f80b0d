"""An asyncio Redis client per event loop for consumers (they must not block the loop), closed
with its loop; in embedded mode the fakeredis client behind an awaitable surface."""

from __future__ import annotations

import asyncio
import logging
import weakref

import redis.asyncio
from django.conf import settings

from kernel.redis import get_redis

logger = logging.getLogger(__name__)


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
