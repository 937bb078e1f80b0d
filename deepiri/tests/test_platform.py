"""Cross-cutting behaviour: health, OpenAPI, docs, metrics, API keys, CORS, security headers, logs."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.core.management import call_command

from accounts.models import ScopedAPIKey

pytestmark = pytest.mark.django_db


def test_health_reports_every_service(api_client):
    r = api_client.get("/api/health")
    assert r.status_code == 200, r.content
    data = r.json()["data"]
    assert data["status"] == "healthy"
    assert set(data["services"]) == {"database", "cache", "mongo", "broker", "ai", "webpush"}
    assert data["services"]["database"]["status"] == "up"


def test_health_is_503_when_a_required_service_is_down(api_client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    settings.CELERY_TASK_ALWAYS_EAGER = False
    r = api_client.get("/api/health")
    assert r.status_code == 503
    assert r.json()["data"]["services"]["broker"]["status"] == "down"


def test_health_stays_200_when_only_the_optional_ai_service_is_down(api_client, settings):
    settings.AI_SERVICE_URL = "http://127.0.0.1:1"
    r = api_client.get("/api/health")
    assert r.status_code == 200
    assert r.json()["data"]["services"]["ai"]["status"] == "down"


def test_liveness(api_client):
    assert api_client.get("/api/health/live").json() == {"success": True, "data": {"status": "alive"}}


def test_openapi_schema_generates_without_warnings():
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out)
    schema = json.loads(out.getvalue())
    assert "/api/auth/login" in schema["paths"]
    login = schema["paths"]["/api/auth/login"]["post"]
    assert "requestBody" in login and "200" in login["responses"]


def test_schema_and_docs_are_served_with_local_assets(api_client):
    assert api_client.get("/api/schema/").status_code == 200
    r = api_client.get("/api/docs/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "drf_spectacular_sidecar" in html and "cdn.jsdelivr" not in html


def test_metrics_only_for_a_metrics_key_or_staff(api_client, make_user):
    from accounts.tokens import issue_pair

    # neither anonymous callers (loopback included: a proxy's address) nor an ordinary user token
    assert api_client.get("/metrics").status_code in (401, 403)
    user = make_user()
    token = issue_pair(user)["token"]
    assert api_client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 403
    _, metrics_key = ScopedAPIKey.objects.create_key(name="prometheus", scope="metrics")
    _, read_key = ScopedAPIKey.objects.create_key(name="reader", scope="read")
    r = api_client.get("/metrics", REMOTE_ADDR="203.0.113.5", HTTP_AUTHORIZATION=f"Api-Key {metrics_key}")
    assert r.status_code == 200 and b"django_http" in r.content
    assert api_client.get("/metrics", HTTP_AUTHORIZATION=f"Api-Key {read_key}").status_code == 403
    staff = make_user(is_staff=True)
    assert api_client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {issue_pair(staff)['token']}").status_code == 200


def test_api_keys_are_hashed_scoped_and_revocable(api_client, user):
    obj, key = ScopedAPIKey.objects.create_key(name="crm", scope="read")
    assert key not in obj.hashed_key and obj.hashed_key
    r = api_client.get(f"/api/users/{user.pk}", HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert r.status_code == 200 and r.json()["data"]["name"] == user.name
    # a machine client is not a user: user endpoints refuse it
    assert api_client.get("/api/users/profile", HTTP_AUTHORIZATION=f"Api-Key {key}").status_code == 403
    obj.revoked = True
    obj.save()
    assert api_client.get(f"/api/users/{user.pk}", HTTP_AUTHORIZATION=f"Api-Key {key}").status_code == 401
    assert api_client.get(f"/api/users/{user.pk}", HTTP_AUTHORIZATION="Api-Key nope.nope").status_code == 401


def test_cors_for_configured_origins_only(api_client):
    r = api_client.options(
        "/api/auth/login", HTTP_ORIGIN="http://localhost:5173", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST"
    )
    assert r["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert r["Access-Control-Allow-Credentials"] == "true"
    r = api_client.options("/api/auth/login", HTTP_ORIGIN="https://evil.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert "Access-Control-Allow-Origin" not in r


def test_security_headers(api_client):
    r = api_client.get("/api/health/live")
    assert r["X-Content-Type-Options"] == "nosniff"
    assert r["X-Frame-Options"] == "DENY"
    assert r["Referrer-Policy"] == "same-origin"


def test_logs_are_json_lines_with_request_and_user_id(auth_client, user):
    from kernel.logging import request_id_var, user_id_var

    handler = next(h for h in logging.getLogger().handlers if h.filters)
    stream = io.StringIO()
    old = handler.setStream(stream)
    try:
        t1, t2 = request_id_var.set("req-1"), user_id_var.set(user.pk)
        logging.getLogger("deepiri.test").warning("hello %s", "world")
        request_id_var.reset(t1)
        user_id_var.reset(t2)
    finally:
        handler.setStream(old)
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["message"] == "hello world" and line["request_id"] == "req-1" and line["user_id"] == user.pk


def test_unhandled_405_and_415_have_the_error_shape(auth_client):
    r = auth_client.delete("/api/auth/verify")
    assert r.status_code == 405 and r.json()["success"] is False


def test_user_throttle_answers_429_with_retry_after_and_is_per_user(auth_client, other_client, settings):
    from rest_framework.settings import api_settings

    from kernel.api.throttling import UserThrottle

    old = UserThrottle.THROTTLE_RATES
    UserThrottle.THROTTLE_RATES = {**api_settings.DEFAULT_THROTTLE_RATES, "user": "3/min"}
    try:
        codes = [auth_client.get("/api/users/profile").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = auth_client.get("/api/users/profile")
        assert r.status_code == 429 and 1 <= int(r["Retry-After"]) <= 61 and r.json()["success"] is False
        assert other_client.get("/api/users/profile").status_code == 200  # another user has their own budget
    finally:
        UserThrottle.THROTTLE_RATES = old
