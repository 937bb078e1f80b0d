"""`POST /api/logs`: client log entries land in the JSON log with the user and request ids."""

from __future__ import annotations

import io
import json
import logging

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def log_lines():
    """The JSON lines the root console handler writes during the test."""
    handler = next(h for h in logging.getLogger().handlers if h.filters)
    stream = io.StringIO()
    old = handler.setStream(stream)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    finally:
        handler.setStream(old)


def post(client, body, **headers):
    return client.generic("POST", "/api/logs", json.dumps(body), content_type="application/json", **headers)


def test_entry_is_written_with_user_and_request_id(auth_client, user, log_lines):
    body = {
        "timestamp": "2026-11-30T10:00:00.000Z",
        "level": "error",
        "message": "TypeError: x is undefined\nforged line",
        "context": {"url": "/tasks", "component": {"name": "TaskList", "props": [1, 2]}, "userAgent": "UA"},
    }
    r = post(auth_client, body, HTTP_X_REQUEST_ID="req-client-1")
    assert r.status_code == 204 and r.content == b""
    assert r["X-Request-ID"] == "req-client-1"
    line = next(entry for entry in log_lines() if entry["name"] == "deepiri.client")
    assert line["levelname"] == "ERROR"
    assert line["user_id"] == user.pk and line["request_id"] == "req-client-1"
    assert line["message"] == "client: TypeError: x is undefined\\x0aforged line"  # one line, always
    assert line["client"]["timestamp"] == "2026-11-30T10:00:00.000Z"
    assert line["client"]["context"] == body["context"]  # keys as the client sent them (not re-cased)


def test_trailing_slash_and_defaults(auth_client, log_lines):
    r = auth_client.generic("POST", "/api/logs/", json.dumps({"message": "hi"}), content_type="application/json")
    assert r.status_code == 204
    line = next(entry for entry in log_lines() if entry["name"] == "deepiri.client")
    assert line["levelname"] == "INFO" and line["client"]["context"] == {}


def test_anonymous_is_refused(api_client, log_lines):
    r = post(api_client, {"level": "error", "message": "x"})
    assert r.status_code == 401
    assert not [e for e in log_lines() if e["name"] == "deepiri.client"]


def test_oversized_body_is_413_and_not_logged(auth_client, settings, log_lines):
    r = post(auth_client, {"level": "error", "message": "x", "context": {"blob": "a" * (settings.CLIENT_LOG_MAX_BYTES)}})
    assert r.status_code == 413
    assert r.json()["success"] is False
    assert not [e for e in log_lines() if e["name"] == "deepiri.client"]


def test_too_long_message_is_a_field_error(auth_client):
    r = post(auth_client, {"level": "error", "message": "m" * 2001})
    assert r.status_code == 400 and "message" in r.json()["errors"]


@pytest.mark.parametrize("depth", [5, 50, 3000])
def test_nested_context_is_refused(auth_client, depth, log_lines):
    context: dict = {}
    inner = context
    for _ in range(depth):
        inner["a"] = {}
        inner = inner["a"]
    raw = json.dumps({"level": "error", "message": "deep", "context": context}) if depth < 900 else None
    if raw is None:  # deeper than Python's own json would write: build the text directly
        raw = '{"level":"error","message":"deep","context":' + '{"a":' * depth + "{}" + "}" * depth + "}"
    r = auth_client.generic("POST", "/api/logs", raw, content_type="application/json")
    assert r.status_code in (400, 413), r.content
    assert r.json()["success"] is False
    if depth < 900:
        assert "context" in r.json()["errors"]
    assert not [e for e in log_lines() if e["name"] == "deepiri.client"]


def test_context_depth_at_the_limit_is_kept(auth_client, log_lines):
    r = post(auth_client, {"message": "ok", "context": {"a": {"b": {"c": {"d": 1}}}}})
    assert r.status_code == 204
    line = next(entry for entry in log_lines() if entry["name"] == "deepiri.client")
    assert line["client"]["context"] == {"a": {"b": {"c": {"d": 1}}}}


def test_too_many_keys_unknown_fields_bad_level_and_bad_shapes(auth_client):
    r = post(auth_client, {"message": "wide", "context": {f"k{i}": i for i in range(101)}})
    assert r.status_code == 400 and "context" in r.json()["errors"]
    r = post(auth_client, {"message": "x", "userId": "someone-else"})
    assert r.status_code == 400 and "userId" in r.json()["errors"]
    r = post(auth_client, {"message": "x", "level": "panic"})
    assert r.status_code == 400 and "level" in r.json()["errors"]
    r = post(auth_client, {"message": "x", "context": "not an object"})
    assert r.status_code == 400 and "context" in r.json()["errors"]
    r = post(auth_client, ["not", "an", "object"])
    assert r.status_code == 400
    r = auth_client.generic("POST", "/api/logs", "{not json", content_type="application/json")
    assert r.status_code == 400


def test_rate_limited_per_user(auth_client, other_client, settings):
    settings.CLIENT_LOG_RATE = "3/min"
    for _ in range(3):
        assert post(auth_client, {"message": "x"}).status_code == 204
    r = post(auth_client, {"message": "x"})
    assert r.status_code == 429 and int(r["Retry-After"]) >= 1
    assert post(other_client, {"message": "x"}).status_code == 204  # another user has their own budget


def test_no_endpoint_reads_logs(auth_client):
    assert auth_client.get("/api/logs").status_code == 405
