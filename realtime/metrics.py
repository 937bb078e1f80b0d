"""Prometheus gauges for the socket layer, read from Redis at scrape time (`/metrics`).

Every daphne replica writes its sockets to Redis (realtime.presence), so any process
that serves `/metrics` reports the whole deployment, not just itself.
"""

from __future__ import annotations

import contextlib

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from kernel.redis import get_redis, key

from . import presence
from .publisher import get_async_redis


def realtime_metrics():
    counts = presence.counts()
    yield GaugeMetricFamily(
        "deepiri_ws_connections", "Open WebSocket connections (all daphne processes)", value=counts["connections"]
    )
    yield GaugeMetricFamily(
        "deepiri_ws_online_users", "Users with at least one open WebSocket", value=counts["online_users"]
    )


# ------------------------------------------------------------------ Socket.IO events nobody handles
# The web client still emits events of features this backend does not have; they are dropped and
# counted here (a Redis hash, so every daphne's count shows wherever /metrics is served). The label
# is the event name only for names we know the client sends; anything else is `other`, so a client
# cannot grow the label set.
KNOWN_UNHANDLED_EVENTS = frozenset(
    {
        "join_adventure_room",
        "leave_adventure_room",
        "join_event_room",
        "leave_event_room",
        "team:join",
        "team:leave",
        "team:mission:start",
        "team:mission:progress",
        "file_changed",
    }
)


def unknown_events_key() -> str:
    return key("rt", "sio", "unknown")


async def count_unknown_socketio_event(name: str) -> None:
    label = name if name in KNOWN_UNHANDLED_EVENTS else "other"
    with contextlib.suppress(Exception):  # a lost count is not worth failing the socket for
        await get_async_redis().hincrby(unknown_events_key(), label, 1)


def socketio_metrics():
    family = CounterMetricFamily(
        "deepiri_socketio_unknown_events", "Socket.IO events received that no handler takes", labels=["event"]
    )
    for label, count in sorted(get_redis().hgetall(unknown_events_key()).items()):
        family.add_metric([label], int(count))
    yield family
