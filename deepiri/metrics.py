"""`/metrics` in Prometheus text format (django-prometheus). Readable with an API key of scope
`metrics` (the scraper's) or by staff; anyone else gets 401/403. No address is trusted: behind a
proxy every request comes from the proxy's loopback address."""

from __future__ import annotations

import logging

import prometheus_client
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from deepiri.api.permissions import StaffSecondFactor

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


class MetricsReader(BasePermission):
    def has_permission(self, request, view):
        from deepiri.api.permissions import MachinePrincipal

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
        data = prometheus_client.generate_latest(prometheus_client.REGISTRY)
        return HttpResponse(data, content_type=prometheus_client.CONTENT_TYPE_LATEST)
