"""`/api/health` (every dependency, each with a short timeout), `/api/health/ready` (may this
process take traffic: every required dependency answers) and `/api/health/live` (the process
answers at all).

Both probes carry a `Deepiri-Instance` header with DEEPIRI_INSTANCE when it is set: a supervisor
(make prod) gives its processes a fresh value per start, so a probe answered by some other
program on the same port is not mistaken for its own."""

from __future__ import annotations

import os
import socket
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import redis
import requests
from django.conf import settings
from django.core.cache import cache
from django.db import connection, connections
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from kernel import wiring
from kernel.api.errors import ErrorCode
from kernel.api.exceptions import error_body
from kernel.api.permissions import staff_privileges_verified

TIMEOUT = 2.0


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "up"


def check_cache() -> str:
    cache.set("health:probe", "1", 5)
    if cache.get("health:probe") != "1":
        raise RuntimeError("cache read-back failed")
    return "up"


def check_broker() -> str:
    url = settings.CELERY_BROKER_URL
    if url.startswith("memory://") or settings.CELERY_TASK_ALWAYS_EAGER and not settings.REDIS_URL:
        return "embedded"
    parsed = urlparse(url)
    if parsed.scheme.startswith("redis"):
        client = redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT)
        try:
            client.ping()
        finally:
            client.close()
        return "up"
    with socket.create_connection((parsed.hostname, parsed.port or 5672), timeout=TIMEOUT):
        return "up"


def check_ai() -> str:
    if not settings.AI_SERVICE_URL:
        return "fallback"
    r = requests.get(settings.AI_SERVICE_URL.rstrip("/") + "/health", timeout=(TIMEOUT, TIMEOUT))
    if r.status_code >= 500:
        raise RuntimeError(f"AI service answered {r.status_code}")
    return "up"


# name -> (check, required). The AI service is optional: without it challenges come from the
# local generator. Apps add the stores they own with `register_check` (analytics: mongo).
CHECKS = {"database": (check_database, True), "cache": (check_cache, True),
          "broker": (check_broker, True), "ai": (check_ai, False)}


def register_check(name: str, check, *, required: bool = True) -> None:
    """`check()` returns a short state ("up", "embedded", ...) or raises when the dependency is down."""
    CHECKS[name] = (check, required)
    wiring.record("health checks", name, check)

_pool = ThreadPoolExecutor(max_workers=5, thread_name_prefix="health")


def _run(fn):
    try:
        return fn(), None
    except Exception as exc:  # a health check reports, it never raises
        return "down", f"{type(exc).__name__}: {exc}"[:200]
    finally:
        connections.close_all()  # this pool thread's own connections


def run_checks() -> tuple[bool, dict]:
    futures = {name: _pool.submit(_run, fn) for name, (fn, _) in CHECKS.items()}
    services, healthy = {}, True
    for name, fut in futures.items():
        try:
            state, error = fut.result(timeout=TIMEOUT + 1)
        except Exception:
            state, error = "down", "timed out"
        services[name] = {"status": state, **({"error": error} if error else {})}
        if state == "down" and CHECKS[name][1]:
            healthy = False
    return healthy, services


HealthSerializer = inline_serializer(
    "Health",
    {
        "status": serializers.CharField(),
        "version": serializers.CharField(),
        "services": serializers.DictField(child=serializers.DictField()),
    },
)


def may_see_details(request) -> bool:
    """Staff or an API key of scope `metrics`. Authentication is tried by hand and any failure
    (a bad token, the database down) means "anonymous": health must answer whatever is broken."""
    for auth_class in api_settings.DEFAULT_AUTHENTICATION_CLASSES:
        auth = auth_class()
        try:
            result = auth.authenticate(request)
        except Exception:
            return False
        if result is None:
            continue
        principal = result[0]
        if getattr(principal, "is_staff", False) and getattr(principal, "is_active", False):
            return staff_privileges_verified(request, principal)
        return getattr(principal, "scope", None) == "metrics"
    return False


def public_view(services: dict) -> dict:
    """Up or down per service, nothing else: error texts name hosts and ports, and which
    embedded fallbacks run is configuration."""
    return {name: {"status": "down" if info["status"] == "down" else "up"} for name, info in services.items()}


class HealthView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    @extend_schema(
        responses={200: HealthSerializer, 503: HealthSerializer},
        tags=["health"],
        description="Anonymous callers see up/down per service; staff and `metrics` API keys also see "
        "each service's mode and error.",
    )
    def get(self, request):
        healthy, services = run_checks()
        if not may_see_details(request):
            services = public_view(services)
        body = {"status": "healthy" if healthy else "unhealthy", "version": settings.VERSION, "services": services}
        return Response({"success": healthy, "data": body}, status=200 if healthy else 503)


INSTANCE_HEADER = "Deepiri-Instance"


def _tag(response: Response) -> Response:
    instance = os.environ.get("DEEPIRI_INSTANCE")
    if instance:
        response[INSTANCE_HEADER] = instance
    return response


class ReadyView(APIView):
    """What load balancers, compose and make prod wait on: 200 once every required dependency
    answers, 503 (error envelope, `errors` naming each one that does not) otherwise. The optional
    AI service never makes a process unready: challenges then come from the local generator."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    @extend_schema(
        responses={200: inline_serializer("Ready", {"status": serializers.CharField(),
                                                     "services": serializers.DictField(child=serializers.DictField())})},
        tags=["health"],
    )
    def get(self, request):
        _, services = run_checks()
        down = sorted(name for name, info in services.items() if info["status"] == "down" and CHECKS[name][1])
        if down:
            body = error_body(f"Not ready: {', '.join(down)} not answering", errors={name: ["down"] for name in down},
                              code=ErrorCode.NOT_READY, status=503)
            return _tag(Response(body, status=503))
        return _tag(Response({"success": True, "data": {"status": "ready", "services": public_view(services)}}))


class LiveView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    @extend_schema(responses={200: inline_serializer("Live", {"status": serializers.CharField()})}, tags=["health"])
    def get(self, request):
        return _tag(Response({"status": "alive"}))
