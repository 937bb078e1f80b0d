"""The smaller contract promises: pinnable API-Version, one version number, RateLimit-Policy, the
register limit under DEBUG, 404s that name what is missing, `Z` on every date-time, Location on
201, CORS for the contract's headers, and webhook URLs from the request's host."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from kernel import version

ROOT = Path(settings.BASE_DIR)
MISSING = "000000000000000000000000"


@pytest.mark.django_db
def test_a_pinned_api_version_is_served_and_an_unknown_one_refused(auth_client):
    for pinned in ("1", "1.0", "1.1", "1.2", version.API_VERSION, "v1"):
        res = auth_client.get("/api/tasks", HTTP_API_VERSION=pinned)
        assert res.status_code == 200, (pinned, res.content)
        assert res.headers["API-Version"] == version.API_VERSION
    for unknown in ("2", "0.9", "1.9", "1.2.99", "latest", ""):
        res = auth_client.get("/api/tasks", HTTP_API_VERSION=unknown)
        assert res.status_code == 400, (unknown, res.content)
        body = res.json()
        assert body["code"] == "unsupported_api_version"
        assert body["supportedVersions"] == ["1.0", "1.1", "1.2"]
        assert body["requestId"] == res.headers["X-Request-ID"]
        assert res.headers["API-Version"] == version.API_VERSION
    # refused before the view runs: nothing is created in a contract the client did not ask for
    res = auth_client.post("/api/tasks", {"title": "t"}, format="json", HTTP_API_VERSION="2.0")
    assert res.status_code == 400
    assert auth_client.get("/api/tasks").json()["pagination"]["total"] == 0


@pytest.mark.django_db
def test_one_version_number_everywhere(api_client):
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == version.API_VERSION
    health = api_client.get("/api/health")
    assert health.json()["data"]["version"] == version.API_VERSION == health.headers["API-Version"]
    schema = api_client.get("/api/schema", {"format": "json"}).json()
    assert schema["info"]["version"] == version.API_VERSION


@pytest.mark.django_db
def test_ratelimit_policy_names_the_policy_that_applied(api_client, auth_client, user):
    res = auth_client.get("/api/tasks")
    assert res.headers["RateLimit-Policy"] == f'"user";q={res.headers["RateLimit-Limit"]};w=60'
    login = api_client.post("/api/auth/login", {"email": user.email, "password": "wrong"}, format="json")
    limit = login.headers["RateLimit-Limit"]
    assert re.fullmatch(rf'"login_(email|ip)";q={limit};w=60', login.headers["RateLimit-Policy"])


def _register_rate(debug: str) -> str:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DEBUG": debug,
        "SECRET_KEY": "x" * 50,
        "DJANGO_SETTINGS_MODULE": "deepiri.settings",
    }
    code = "from django.conf import settings; print(settings.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']['register'])"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_the_register_limit_is_relaxed_only_under_debug():
    assert _register_rate("false") == "10/hour"
    assert _register_rate("true") == "1000/hour"


@pytest.mark.django_db
def test_a_404_names_what_is_missing(auth_client):
    generate = auth_client.post("/api/challenges/generate", {"taskId": MISSING}, format="json")
    assert generate.status_code == 404 and generate.json()["message"] == "Task not found."
    assert auth_client.get(f"/api/challenges/{MISSING}").json()["message"] == "Challenge not found."
    assert auth_client.get(f"/api/tasks/{MISSING}").json()["message"] == "Task not found."
    # (without the stop: the message the web client has always been given)
    assert auth_client.get(f"/api/notifications/{MISSING}").json()["message"] == "Notification not found"
    session = auth_client.post(f"/api/challenges/{MISSING}/sessions", {"inviteUserIds": [MISSING]}, format="json")
    assert session.json()["message"] == "Challenge not found."
    assert auth_client.get(f"/api/challenges/sessions/{MISSING}").json()["message"] == "Session not found."
    assert auth_client.get(f"/api/users/{MISSING}").json()["message"] == "User not found."


_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?[+-]\d\d:\d\d$")
_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")


def _datetimes(value, path="$"):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _datetimes(v, f"{path}.{k}")
    elif isinstance(value, list):
        for n, v in enumerate(value):
            yield from _datetimes(v, f"{path}[{n}]")
    elif isinstance(value, str) and _ISO.match(value):
        yield path, value


@pytest.mark.django_db
def test_every_datetime_on_the_wire_ends_in_z(auth_client, user, django_capture_on_commit_callbacks):
    # after-commit handlers run as a real commit would run them (analytics, gamification)
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(3):
            task = auth_client.post(
                "/api/tasks", {"title": f"Report {n}", "dueDate": "2026-12-01T10:00:00+02:00"}, format="json"
            )
            task_id = task.json()["data"]["id"]
            assert auth_client.post(f"/api/tasks/{task_id}/complete", format="json").status_code == 200
        auth_client.post("/api/challenges/generate", {"taskId": task_id}, format="json")
    seen = []
    for path in (
        "/api/analytics/insights",
        "/api/analytics",
        "/api/analytics/stats",
        "/api/analytics/performance",
        "/api/users/export",
        "/api/users/profile",
        "/api/tasks",
        "/api/challenges",
        "/api/notifications",
        "/api/gamification/history",
    ):
        res = auth_client.get(path)
        assert res.status_code == 200, (path, res.content)
        for where, value in _datetimes(res.json()):
            seen.append(path)
            assert not _OFFSET.match(value), f"{path} {where} = {value}"
            if "T" in value:
                assert value.endswith("Z"), f"{path} {where} = {value}"
    assert "/api/users/export" in seen, seen
    # an insight stored as earlier releases wrote it (`isoformat()`: +00:00) is read out with Z
    from analytics import rules, services

    today = rules.today(rules.zone(user.timezone), timezone.now()).isoformat()
    old = {"type": "peak_hours", "message": "m", "priority": "low", "data": {}, "generated_at": "2026-12-01T09:30:00.250000+00:00"}
    services.store_insights(user, today, [old])
    daily = auth_client.get("/api/users/export").json()["data"]["analytics"]["daily"]
    assert [i["generatedAt"] for d in daily for i in d.get("insights", [])] == ["2026-12-01T09:30:00.250000Z"]
    # so is a sync run's error log
    from integrations.models import Connection, SyncRun

    conn = Connection.objects.create(user=user, service="github", auth_type="token")
    SyncRun.objects.create(
        connection=conn, user=user, started_at=timezone.now(),
        errors=[{"code": "rate_limited", "message": "m", "retry_after": 2, "at": "2026-12-01T09:30:00+00:00"}],
    )
    runs = auth_client.get("/api/integrations/github/runs").json()["data"]
    assert [e["at"] for e in runs[0]["errors"]] == ["2026-12-01T09:30:00Z"]


@pytest.mark.django_db
def test_every_201_says_where_the_new_resource_is(auth_client, api_client, other_user):
    task = auth_client.post("/api/tasks", {"title": "t"}, format="json")
    assert task.status_code == 201
    assert task.headers["Location"] == f"/api/tasks/{task.json()['data']['id']}"
    assert auth_client.get(task.headers["Location"]).status_code == 200
    # an idempotent replay says the same
    first = auth_client.post("/api/tasks", {"title": "u"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = auth_client.post("/api/tasks", {"title": "u"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"] == f"/api/tasks/{first.json()['data']['id']}"

    challenge = auth_client.post("/api/challenges/generate", {"taskId": task.json()["data"]["id"]}, format="json")
    assert challenge.status_code in (201, 202)
    assert challenge.headers["Location"] == f"/api/challenges/{challenge.json()['data']['id']}"
    assert auth_client.get(challenge.headers["Location"]).status_code == 200

    friend = auth_client.post("/api/users/friends", {"friendId": str(other_user.pk)}, format="json")
    assert friend.status_code == 201
    assert friend.headers["Location"] == f"/api/users/friends/requests/{friend.json()['data']['request']['_id']}"

    schema = api_client.get("/api/schema", {"format": "json"}).json()
    created = [op["responses"]["201"] for ops in schema["paths"].values() for op in ops.values()
               if isinstance(op, dict) and "201" in op.get("responses", {})]
    assert created and all("Location" in r.get("headers", {}) for r in created)

    register = api_client.post(
        "/api/auth/register", {"email": "new@example.com", "password": "A-long-passw0rd!", "name": "New"}, format="json"
    )
    assert register.status_code == 201, register.content
    assert register.headers["Location"] == "/api/users/profile"


@pytest.mark.django_db
def test_cors_lets_a_browser_send_and_read_the_contract_headers(api_client):
    origin = settings.CORS_ALLOWED_ORIGINS[0]
    sent = ["X-Request-ID", "Idempotency-Key", "If-Match", "If-None-Match", "API-Version"]
    preflight = api_client.options(
        "/api/tasks",
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS=", ".join(h.lower() for h in sent),
    )
    allowed = {h.strip().lower() for h in preflight.headers["Access-Control-Allow-Headers"].split(",")}
    assert {h.lower() for h in sent} <= allowed
    refused = api_client.get("/api/health", HTTP_ORIGIN=origin, HTTP_API_VERSION="9")
    assert refused.status_code == 400 and refused.headers["Access-Control-Allow-Origin"] == origin
    res = api_client.get("/api/health", HTTP_ORIGIN=origin)
    exposed = {h.strip().lower() for h in res.headers["Access-Control-Expose-Headers"].split(",")}
    wanted = ["ETag", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy",
              "Retry-After", "API-Version", "X-Request-ID", "Location"]
    assert {h.lower() for h in wanted} <= exposed


@pytest.mark.django_db
def test_the_webhook_url_comes_from_the_request_host_unless_configured(auth_client, settings):
    settings.INTEGRATIONS_PUBLIC_URL = ""
    settings.ALLOWED_HOSTS = ["api.example.org", "testserver"]
    rows = auth_client.get("/api/integrations/providers", HTTP_HOST="api.example.org").json()["data"]
    urls = {row["service"]: row["webhookUrl"] for row in rows}
    assert urls["trello"] == "http://api.example.org/api/integrations/webhooks/trello"
    settings.INTEGRATIONS_PUBLIC_URL = "https://public.example.net/"
    rows = auth_client.get("/api/integrations/providers", HTTP_HOST="api.example.org").json()["data"]
    assert {row["webhookUrl"] for row in rows if row["service"] == "trello"} == {
        "https://public.example.net/api/integrations/webhooks/trello"
    }


@pytest.mark.django_db
def test_put_replaces_and_patch_updates(auth_client, user):
    created = auth_client.post(
        "/api/tasks",
        {"title": "Draft", "description": "long", "priority": "high", "tags": ["a"], "estimatedDuration": 30,
         "dueDate": "2026-12-24"},
        format="json",
    ).json()["data"]
    path = f"/api/tasks/{created['id']}"
    patched = auth_client.patch(path, {"title": "Draft 2"}, format="json").json()["data"]
    assert (patched["description"], patched["priority"], patched["tags"]) == ("long", "high", ["a"])
    put = auth_client.put(path, {"title": "Final"}, format="json")
    assert put.status_code == 200, put.content
    task = auth_client.get(path).json()["data"]
    assert task["title"] == "Final"
    assert (task["description"], task["priority"], task["tags"]) == ("", "medium", [])
    assert (task["estimatedDuration"], task["dueDate"], task["dueDateOnly"]) == (None, None, False)
    assert task["status"] == "pending"
    assert auth_client.put(path, {"description": "no title"}, format="json").status_code == 400

    auth_client.patch("/api/users/profile", {"bio": "Hello", "timezone": "Europe/Paris"}, format="json")
    profile = auth_client.put("/api/users/profile", {"name": "Alice B"}, format="json")
    assert profile.status_code == 200, profile.content
    data = auth_client.get("/api/users/profile").json()["data"]
    assert (data["name"], data["bio"], data["timezone"]) == ("Alice B", "", "Europe/Paris")
    assert auth_client.put("/api/users/profile", {"bio": "x"}, format="json").json()["errorCodes"] == {
        "name": ["missing_field"]
    }
    # no replace for what has no whole to replace: challenges and integrations answer 405
    assert auth_client.put("/api/challenges/000000000000000000000000", {}, format="json").status_code == 405
    assert auth_client.put("/api/integrations/notion", {}, format="json").status_code == 405
