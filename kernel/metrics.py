"""`/metrics` in Prometheus text format (django-prometheus). Readable with an API key of scope
`metrics` (the scraper's) or by staff; anyone else gets 401/403. No address is trusted: behind a
proxy every request comes from the proxy's loopback address."""

from __future__ import annotations

import logging
import os

import prometheus_client
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from prometheus_client import CollectorRegistry, multiprocess
from prometheus_client.core import GaugeMetricFamily
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from kernel import wiring
from kernel.api.permissions import MachinePrincipal, StaffSecondFactor

logger = logging.getLogger(__name__)
_collectors: list = []


def register_collector(fn) -> None:
    """fn() -> iterable of prometheus_client metric families (e.g. online sockets from Redis)."""
    if fn not in _collectors:
        _collectors.append(fn)
    wiring.record("metrics collectors", wiring.describe(fn), fn)


class _Custom:
    def collect(self):
        for fn in _collectors:
            try:
                yield from fn()
            except Exception:  # one broken collector must not take /metrics down
                logger.warning("metrics collector %s failed", fn, exc_info=True)


prometheus_client.REGISTRY.register(_Custom())


class _StartTime:
    """process_start_time_seconds of the aggregate: when its metrics directory was started, so a
    scraper sees one process that restarts only when the counters really start again."""

    def collect(self):
        started = os.environ.get("DEEPIRI_METRICS_STARTED")
        if started:
            yield GaugeMetricFamily("process_start_time_seconds",
                                    "Start time of the web processes' metrics, seconds since the epoch.",
                                    value=float(started))


def _registry():
    """Under gunicorn (PROMETHEUS_MULTIPROC_DIR) every worker's values, added up: one worker
    alone answers this request and would report only its own share. The per-process collectors
    (process_*, python_gc_*) of the default registry describe one worker and are left out."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return prometheus_client.REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(_Custom())
    registry.register(_StartTime())
    return registry


class MetricsReader(BasePermission):
    def has_permission(self, request, view):
        if isinstance(request.user, MachinePrincipal):
            return request.user.scope == "metrics"
        return bool(getattr(request.user, "is_authenticated", False) and request.user.is_staff and request.user.is_active)


class MetricsView(APIView):
    # The session counts too: a staff member who signed in to the admin with their authenticator
    # reads the metrics in the browser; a JWT from the password-only API sign-in may not.
    authentication_classes = [
        *api_settings.DEFAULT_AUTHENTICATION_CLASSES,
        SessionAuthentication,
    ]
    permission_classes = [MetricsReader, StaffSecondFactor]
    throttle_classes: list = []

    @extend_schema(exclude=True)
    def get(self, request):
        data = prometheus_client.generate_latest(_registry())
        return HttpResponse(data, content_type=prometheus_client.CONTENT_TYPE_LATEST)
