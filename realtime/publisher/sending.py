"""Handing messages to the channel layer from any context: the serving loop (in-memory layer),
this process's send loop for sync code (requests, Celery tasks, timers), or the caller's own
loop; with timeouts so a stuck layer or a hung Redis holds no caller for long."""

from __future__ import annotations

import asyncio
import threading

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer

from kernel import tracing
from kernel.redis import RedisSkipped
from kernel.redis import breaker as redis_breaker
from kernel.redis import skipping as redis_skipping

from ..per_process import PerProcess

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


def group_send(group: str, message: dict) -> None:
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
