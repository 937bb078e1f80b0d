"""`/metrics` in Prometheus text format (django-prometheus). Open from localhost or with an API
key of scope `metrics`, or to staff; other callers get 403."""

from __future__ import annotations

import logging

import prometheus_client
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import BasePermission
from rest_framework.views import APIView

from deepiri.api.permissions import api_key_scope

logger = logging.getLogger(__name__)
_collectors: list = []


def register_collector(fn) -> None:
    """fn() -> iterable of prometheus_client metric families (e.g. online sockets from Redis)."""
    _collectors.append(fn)


class _Custom:
    def collect(self):
        for fn in _collectors:
            try:
                yield from fn()
            except Exception:  # one broken collector must not take /metrics down
                logger.warning("metrics collector %s failed", fn, exc_info=True)


prometheus_client.REGISTRY.register(_Custom())


class LocalOrScoped(BasePermission):
    def has_permission(self, request, view):
        if request.META.get("REMOTE_ADDR") in ("127.0.0.1", "::1") and not request.META.get("HTTP_X_FORWARDED_FOR"):
            return True
        if getattr(request.user, "is_staff", False):
            return True
        return api_key_scope("metrics")().has_permission(request, view)


class MetricsView(APIView):
    permission_classes = [LocalOrScoped]
    throttle_classes: list = []

    @extend_schema(exclude=True)
    def get(self, request):
        data = prometheus_client.generate_latest(prometheus_client.REGISTRY)
        return HttpResponse(data, content_type=prometheus_client.CONTENT_TYPE_LATEST)
