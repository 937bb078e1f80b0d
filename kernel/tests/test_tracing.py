"""kernel.tracing: off unless configured; when on, the trace id is in log records and error
envelopes, and a channel-layer message carries the publisher's context."""

from __future__ import annotations

import logging

import pytest

from devtools.testing.tracing import from_sdk
from kernel import tracing
from kernel.logging import RequestContextFilter

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "x", "OTEL_TRACES_EXPORTER": "otlp"}, False),  # no endpoint: nowhere to send
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_configured_only_by_the_environment(environ, on):
    assert tracing.configured(environ) is on


def test_off_by_default_nothing_is_instrumented(auth_client, settings):
    assert tracing.ENABLED is False and tracing.setup("web") is False  # the test environment sets no OTEL_
    assert not any("opentelemetry" in m for m in settings.MIDDLEWARE)
    with tracing.span("anything", a=1) as span:
        assert span is None and tracing.current_trace_id() == "-"
    body = auth_client.get("/api/tasks/nope").json()
    assert body["success"] is False and body["requestId"] and "traceId" not in body


def _record():
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "hello", None, None)
    RequestContextFilter().filter(record)
    return record


def test_log_records_carry_the_trace_id(traced):
    assert _record().trace_id == "-"
    with tracing.span("work"):
        inside = _record()
    (span,) = map(from_sdk, traced.get_finished_spans())
    assert inside.trace_id == span.trace_id != "-"


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("get", "/api/tasks/unknown-id", None, 404),  # DRF's exception handler
        ("get", "/api/no-such-route", None, 404),  # the middleware's own envelope
        ("post", "/api/tasks", {"title": ""}, 400),
    ],
)
def test_error_envelopes_carry_the_trace_id_beside_the_request_id(traced, auth_client, method, path, body, status):
    response = getattr(auth_client, method)(path, body, format="json")
    assert response.status_code == status
    envelope = response.json()
    server = next(s for s in map(from_sdk, traced.get_finished_spans()) if s.parent_id is None)
    assert envelope["requestId"] == response["X-Request-ID"]
    assert envelope["traceId"] == server.trace_id
    assert server.attributes["deepiri.request_id"] == envelope["requestId"]


def test_incoming_traceparent_is_continued(traced, auth_client):
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    response = auth_client.get("/api/tasks", HTTP_TRACEPARENT=parent)
    assert response.status_code == 200
    server = next(s for s in map(from_sdk, traced.get_finished_spans()) if s.parent_id == "b7ad6b7169203331")
    assert server.trace_id == "0af7651916cd43dd8448eb211c80319c"
    # the request's Redis commands (the throttle) are spans of the same trace
    assert any(_system(s) == "redis" for s in map(from_sdk, traced.get_finished_spans()) if s.trace_id == server.trace_id)


def _system(span):
    return span.attributes.get("db.system") or span.attributes.get("db.system.name")


def test_the_server_span_names_the_route_and_carries_the_http_attributes(traced, auth_client):
    from opentelemetry.trace import SpanKind, StatusCode

    assert auth_client.get("/api/tasks?limit=5").status_code == 200
    spans = traced.get_finished_spans()
    server = next(s for s in spans if s.kind == SpanKind.SERVER)
    assert server.name == f"GET {server.attributes['http.route']}" and "tasks" in server.attributes["http.route"]
    assert server.attributes["http.request.method"] == "GET"
    assert server.attributes["url.path"] == "/api/tasks"
    assert server.attributes["http.response.status_code"] == 200
    assert server.status.status_code == StatusCode.UNSET
    # the request's own work (SQL, Redis) is inside it
    assert all(s.context.trace_id == server.context.trace_id for s in spans)
    assert any(s.parent is not None and s.parent.span_id == server.context.span_id for s in spans)


def test_the_connection_health_check_is_left_out_of_traces(traced):
    """CONN_HEALTH_CHECKS runs `SELECT 1` before a request's first query; a request's trace shows
    its queries, not that probe. Taking tracing down gives Django its own check back."""
    from django.db import connections

    connection = connections.create_connection("default")  # opened after instrumenting, as in a server
    try:
        with tracing.span("request"):
            connection.ensure_connection()
            assert connection.is_usable()
            with connection.cursor() as cursor:
                cursor.execute("SELECT 2")
    finally:
        connection.close()
    statements = [s.attributes.get("db.statement") for s in traced.get_finished_spans()]
    assert "SELECT 2" in statements and "SELECT 1" not in statements
    tracing.shutdown()
    assert "<locals>" not in type(connection).is_usable.__qualname__


def test_a_health_probe_makes_no_trace(traced, client):
    assert client.get("/api/health/live").status_code == 200
    assert not [s for s in traced.get_finished_spans() if s.name.startswith("GET")]


def test_a_dead_dependency_marks_the_span_as_failed(traced, auth_client):
    from opentelemetry.trace import SpanKind, StatusCode

    from analytics import mongo as analytics_mongo

    analytics_mongo.connect("mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=100", "down")
    try:
        assert auth_client.get("/api/analytics").status_code == 503
    finally:
        analytics_mongo.connect()
    server = next(s for s in traced.get_finished_spans() if s.kind == SpanKind.SERVER)
    assert server.attributes["http.response.status_code"] == 503 and server.attributes["error.type"] == "503"
    assert server.status.status_code == StatusCode.ERROR


def test_an_async_request_gets_the_same_server_span(traced):
    """daphne serves HTTP through Django's async handler: the middleware runs as a coroutine."""
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient
    from opentelemetry.trace import SpanKind

    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    response = async_to_sync(AsyncClient().get)("/api/tasks", headers={"traceparent": parent})
    assert response.status_code == 401
    server = next(s for s in traced.get_finished_spans() if s.kind == SpanKind.SERVER)
    assert format(server.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert server.attributes["http.response.status_code"] == 401 and server.name.startswith("GET ")
