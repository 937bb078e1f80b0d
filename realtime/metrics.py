"""Prometheus gauges for the socket layer, read from Redis at scrape time (`/metrics`).

Every daphne replica writes its sockets to Redis (realtime.presence), so any process
that serves `/metrics` reports the whole deployment, not just itself.
"""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily


def realtime_metrics():
    from . import presence

    counts = presence.counts()
    yield GaugeMetricFamily(
        "deepiri_ws_connections", "Open WebSocket connections (all daphne processes)", value=counts["connections"]
    )
    yield GaugeMetricFamily(
        "deepiri_ws_online_users", "Users with at least one open WebSocket", value=counts["online_users"]
    )


def register() -> None:
    from deepiri.metrics import _collectors, register_collector

    if realtime_metrics not in _collectors:
        register_collector(realtime_metrics)
