"""deepiri.tracing: off unless configured; when on, the trace id is in log records and error
envelopes, and a channel-layer message carries the publisher's context."""

from __future__ import annotations

import logging

import pytest

from deepiri import tracing
from deepiri.logging import RequestContextFilter
from deepiri.testing.tracing import from_sdk

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
