"""Personal access tokens: issued once, hashed at rest, scoped per view (default deny), refused on
the very next request after revocation, expiry or a password change, throttled per token."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.settings import api_settings
from rest_framework.test import APIClient

from accounts import auth_cache, personal_tokens
from accounts.models import PersonalAccessToken
from kernel.api.throttling import TokenThrottle
from notifications.models import Notification

pytestmark = pytest.mark.django_db

TOKEN_RE = re.compile(r"^dpat_[A-Za-z0-9]{8}_[A-Za-z0-9]{40}$")
ALL_SCOPES = [
    "tasks:read",
    "tasks:write",
    "challenges:read",
    "challenges:write",
    "gamification:read",
    "integrations:read",
    "webhooks:manage",
    "profile:read",
]


def _iso(dt) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def _create(client, scopes=("tasks:read",), days=30, name="ci script"):
    return client.post(
        "/api/tokens",
        {"name": name, "scopes": list(scopes), "expiresAt": _iso(timezone.now() + timedelta(days=days))},
        format="json",
    )


def _pat_client(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def make_token(auth_client):
    def make(scopes=("tasks:read",), days=30):
        response = _create(auth_client, scopes, days)
        assert response.status_code == 201, response.json()
        data = response.json()["data"]
        return data["id"], data["token"]

    return make


def test_create_shows_the_token_once_and_stores_only_its_hash(auth_client, user):
    response = _create(auth_client, ["tasks:read", "profile:read"])
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    data = response.json()["data"]
    assert set(data) >= {"id", "name", "scopes", "expiresAt", "lastUsedAt", "createdAt", "token"}
    assert TOKEN_RE.match(data["token"])
    assert data["scopes"] == ["profile:read", "tasks:read"] and data["lastUsedAt"] is None
    assert data["expiresAt"].endswith("Z")

    listed = auth_client.get("/api/tokens").json()["data"]
    assert [t["id"] for t in listed] == [data["id"]]
    assert "token" not in listed[0] and data["token"] not in str(listed)

    row = PersonalAccessToken.objects.get(pk=data["id"])
    assert row.user_id == user.pk
    assert data["token"] not in row.hashed_key and row.hashed_key.startswith("sha512$$")
    assert data["token"].split("_")[2] not in str(PersonalAccessToken.objects.filter(pk=row.pk).values().first())

    me = _pat_client(data["token"]).get("/api/users/profile")
    assert me.status_code == 200 and me.json()["data"]["email"] == user.email


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "scopes": ["tasks:read"]}, "expiresAt"),
        ({"name": "x", "scopes": ["tasks:read"], "expiresAt": "2000-01-01T00:00:00Z"}, "expiresAt"),
        ({"name": "x", "scopes": ["tasks:read"], "expiresAt": "+400d"}, "expiresAt"),
        ({"name": "x", "scopes": ["tasks:read"], "expiresAt": "soon"}, "expiresAt"),
        ({"name": "x", "scopes": ["admin:all"], "expiresAt": "+30d"}, "scopes"),
        ({"name": "x", "scopes": [], "expiresAt": "+30d"}, "scopes"),
        ({"name": "x", "scopes": ["tasks:read", "tasks:read"], "expiresAt": "+30d"}, "scopes"),
        ({"name": "x", "scopes": "tasks:read", "expiresAt": "+30d"}, "scopes"),
        ({"name": "", "scopes": ["tasks:read"], "expiresAt": "+30d"}, "name"),
        ({"name": "a\r\nBcc: x", "scopes": ["tasks:read"], "expiresAt": "+30d"}, "name"),
        ({"name": "x" * 51, "scopes": ["tasks:read"], "expiresAt": "+30d"}, "name"),
        ({"name": "x", "scopes": ["tasks:read"], "expiresAt": "+30d", "userId": "someone"}, "userId"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(auth_client, body, field):
    if isinstance(body.get("expiresAt"), str) and body["expiresAt"].startswith("+"):
        body = {**body, "expiresAt": _iso(timezone.now() + timedelta(days=int(body["expiresAt"][1:-1])))}
    response = auth_client.post("/api/tokens", body, format="json")
    assert response.status_code == 400, response.json()
    payload = response.json()
    assert payload["code"] == "validation_error" and field in payload["errors"]
    assert not PersonalAccessToken.objects.exists()


def test_at_most_the_configured_number_of_tokens_per_user(auth_client, other_client, settings):
    settings.PAT_MAX_PER_USER = 2
    assert _create(auth_client).status_code == 201
    assert _create(auth_client).status_code == 201
    third = _create(auth_client)
    assert third.status_code == 400 and "nonFieldErrors" in third.json()["errors"]
    assert _create(other_client).status_code == 201  # per user
    token_id = auth_client.get("/api/tokens").json()["data"][0]["id"]
    assert auth_client.delete(f"/api/tokens/{token_id}").status_code == 204
    assert _create(auth_client).status_code == 201  # a revoked token frees its place


def test_a_token_acts_only_within_its_scopes(make_token):
    _, raw = make_token(["tasks:read"])
    client = _pat_client(raw)
    assert client.get("/api/tasks").status_code == 200
    denied = client.post("/api/tasks", {"title": "from a script"}, format="json")
    assert denied.status_code == 403
    body = denied.json()
    assert body["code"] == "insufficient_scope" and body["errors"]["requiredScope"] == ["tasks:write"]
    assert "tasks:write" in body["message"]
    other = client.get("/api/gamification/points")
    assert other.status_code == 403 and other.json()["errors"]["requiredScope"] == ["gamification:read"]

    _, writer = make_token(["tasks:read", "tasks:write"])
    created = _pat_client(writer).post("/api/tasks", {"title": "from a script"}, format="json")
    assert created.status_code == 201


def _staff_routes_and_account_changes(token_id):
    return [
        ("get", "/api/tokens", None),
        ("post", "/api/tokens", {"name": "n", "scopes": ["tasks:read"], "expiresAt": "2030-01-01T00:00:00Z"}),
        ("delete", f"/api/tokens/{token_id}", None),
        ("post", f"/api/tokens/{token_id}/regenerate", {}),
        ("patch", "/api/users/profile", {"name": "Renamed by a token"}),
        ("put", "/api/users/preferences", {"theme": "dark"}),
        ("get", "/api/auth/verify", None),
        ("post", "/api/auth/verify-email/resend", {}),
        ("delete", "/api/users/account", {"password": "Correct-Horse-42!"}),
        ("get", "/api/users/export", None),
        ("get", "/metrics", None),
        ("get", "/api/notifications", None),
    ]


def test_a_token_cannot_manage_tokens_the_account_sessions_or_reach_staff_routes(make_user, client_factory):
    admin = make_user(email="root@example.com", is_staff=True, is_superuser=True)
    jwt = client_factory(admin)
    created = _create(jwt, ALL_SCOPES)
    token_id, raw = created.json()["data"]["id"], created.json()["data"]["token"]
    pat = _pat_client(raw)
    for method, path, body in _staff_routes_and_account_changes(token_id):
        response = getattr(pat, method)(path, body, format="json") if body is not None else getattr(pat, method)(path)
        assert response.status_code == 403, (method, path, response.status_code)
        assert response.json()["code"] == "token_not_allowed", (method, path)
    admin.refresh_from_db()
    assert admin.name != "Renamed by a token" and admin.is_active
    assert PersonalAccessToken.objects.filter(user=admin).count() == 1
    assert not PersonalAccessToken.objects.get(pk=token_id).revoked
    # Logout is public and acts only on a refresh token in hand: a token ends nothing there.
    assert pat.post("/api/auth/logout", {}, format="json").status_code == 200
    assert pat.get("/api/tasks").status_code == 200
    # The admin site never reads the Authorization header: a token is not a staff session.
    admin_page = pat.get("/admin/")
    assert admin_page.status_code == 302 and "/login/" in admin_page["Location"]
    # Health details are for staff or a metrics key, not a staff member's token.
    assert "details" not in str(pat.get("/api/health").json().get("data", {}).keys())


def test_revocation_is_seen_on_the_next_request_though_the_token_is_cached(auth_client, make_token):
    token_id, raw = make_token(["tasks:read"])
    client = _pat_client(raw)
    assert client.get("/api/tasks").status_code == 200
    assert client.get("/api/tasks").status_code == 200  # served from the cached entry
    assert auth_client.delete(f"/api/tokens/{token_id}").status_code == 204
    refused = client.get("/api/tasks")
    assert refused.status_code == 401 and refused.json()["code"] == "token_not_valid"
    assert auth_client.delete(f"/api/tokens/{token_id}").status_code == 404
    assert auth_client.get("/api/tokens").json()["data"] == []


def test_expiry_is_seen_on_the_next_request(make_token):
    _, raw = make_token(["tasks:read"], days=2)
    client = _pat_client(raw)
    assert client.get("/api/tasks").status_code == 200
    with time_machine.travel(timezone.now() + timedelta(days=2, seconds=1)):
        refused = client.get("/api/tasks")
    assert refused.status_code == 401 and refused.json()["code"] == "token_expired"


def test_regenerate_replaces_the_value_and_keeps_the_token(auth_client, make_token):
    token_id, old = make_token(["tasks:read"])
    assert _pat_client(old).get("/api/tasks").status_code == 200
    response = auth_client.post(f"/api/tokens/{token_id}/regenerate", {}, format="json")
    assert response.status_code == 200
    new = response.json()["data"]["token"]
    assert TOKEN_RE.match(new) and new != old and response.json()["data"]["id"] == token_id
    assert _pat_client(old).get("/api/tasks").status_code == 401
    assert _pat_client(new).get("/api/tasks").status_code == 200


def test_regenerating_an_expired_token_needs_a_new_expiry(client_factory, make_token, user):
    token_id, _ = make_token(["tasks:read"], days=1)
    with time_machine.travel(timezone.now() + timedelta(days=2)):
        auth_client = client_factory(user)
        missing = auth_client.post(f"/api/tokens/{token_id}/regenerate", {}, format="json")
        assert missing.status_code == 400 and "expiresAt" in missing.json()["errors"]
        later = _iso(timezone.now() + timedelta(days=10))
        ok = auth_client.post(f"/api/tokens/{token_id}/regenerate", {"expiresAt": later}, format="json")
        assert ok.status_code == 200
        assert _pat_client(ok.json()["data"]["token"]).get("/api/tasks").status_code == 200


def test_another_users_token_is_a_404(other_client, make_token):
    token_id, raw = make_token()
    assert other_client.delete(f"/api/tokens/{token_id}").status_code == 404
    assert other_client.post(f"/api/tokens/{token_id}/regenerate", {}, format="json").status_code == 404
    assert _pat_client(raw).get("/api/tasks").status_code == 200


def test_a_password_change_ends_every_token(auth_client, make_token, user):
    _, raw = make_token(["tasks:read"])
    assert _pat_client(raw).get("/api/tasks").status_code == 200
    user.set_password("A-New-Passw0rd-42")
    user.save()
    assert _pat_client(raw).get("/api/tasks").status_code == 401


def test_a_deactivated_users_token_is_refused_at_once(make_token, user):
    from accounts import services

    _, raw = make_token(["tasks:read"])
    assert _pat_client(raw).get("/api/tasks").status_code == 200  # user and token cached
    services.set_active(user, False)
    assert _pat_client(raw).get("/api/tasks").status_code == 401
    services.set_active(user, True)
    assert _pat_client(raw).get("/api/tasks").status_code == 200


def test_a_forged_or_malformed_token_is_a_401(make_token):
    _, raw = make_token()
    forged = raw[:-1] + ("A" if raw[-1] != "A" else "B")
    for bad in (forged, "dpat_short_x", "dpat_" + "a" * 8, raw + "!"):
        response = _pat_client(bad).get("/api/tasks")
        assert response.status_code == 401, bad
    assert _pat_client(raw).get("/api/tasks").status_code == 200
    assert _pat_client(forged).get("/api/tasks").status_code == 401  # also once the real one is cached


def _last_used_updates(queries) -> int:
    return sum(1 for q in queries if q["sql"].startswith("UPDATE") and "accounts_personalaccesstoken" in q["sql"])


def test_last_used_at_is_written_at_most_once_a_minute(make_token):
    token_id, raw = make_token(["tasks:read"])
    client = _pat_client(raw)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/api/tasks").status_code == 200
        assert client.get("/api/tasks").status_code == 200
    assert _last_used_updates(ctx.captured_queries) == 1
    first = PersonalAccessToken.objects.get(pk=token_id).last_used_at
    assert first is not None
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/api/tasks").status_code == 200
        if auth_cache.counts_in_one_trip():  # the Redis gate expires in real time, not travelled time
            from django_redis import get_redis_connection

            get_redis_connection("default").flushdb()
            with CaptureQueriesContext(connection) as ctx:
                assert client.get("/api/tasks").status_code == 200
        assert _last_used_updates(ctx.captured_queries) == 1
    assert PersonalAccessToken.objects.get(pk=token_id).last_used_at > first


def test_a_token_is_throttled_on_its_own(make_token):
    _, first = make_token(["tasks:read"])
    _, second = make_token(["tasks:read"])
    old = TokenThrottle.THROTTLE_RATES
    TokenThrottle.THROTTLE_RATES = {**api_settings.DEFAULT_THROTTLE_RATES, "token": "3/min"}
    try:
        statuses = [_pat_client(first).get("/api/tasks").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        assert _pat_client(second).get("/api/tasks").status_code == 200  # per token, not per user
    finally:
        TokenThrottle.THROTTLE_RATES = old


def test_expiry_notice_a_week_before_once_per_token(auth_client, make_token, user):
    soon_id, _ = make_token(["tasks:read"], days=5)
    make_token(["tasks:read"], days=20)
    assert personal_tokens.notify_expiring() == 1
    assert personal_tokens.notify_expiring() == 0  # a second run sends nothing
    notices = Notification.objects.filter(user=user, data__kind="token_expiring")
    assert [n.data["token_id"] for n in notices] == [soon_id]
    assert PersonalAccessToken.objects.get(pk=soon_id).expiry_notified_at is not None
    # A new expiry (regenerate) earns a new notice when that one comes close.
    later = _iso(timezone.now() + timedelta(days=40))
    assert auth_client.post(f"/api/tokens/{soon_id}/regenerate", {"expiresAt": later}, format="json").status_code == 200
    with time_machine.travel(timezone.now() + timedelta(days=14)):
        assert personal_tokens.notify_expiring() == 1  # the 20-day one
    with time_machine.travel(timezone.now() + timedelta(days=35)):
        assert personal_tokens.notify_expiring() == 1  # the regenerated one, for its new expiry
    assert notices.all().count() == 3


def test_a_revoked_token_gets_no_expiry_notice(auth_client, make_token):
    token_id, _ = make_token(["tasks:read"], days=3)
    auth_client.delete(f"/api/tokens/{token_id}")
    assert personal_tokens.notify_expiring() == 0


def test_sockets_do_not_take_personal_access_tokens(make_token):
    _, raw = make_token(ALL_SCOPES)
    assert auth_cache.user_for_access_token(raw) is None  # the /ws/ and Socket.IO token check



@pytest.mark.django_db(transaction=True)
def test_the_socket_handshake_refuses_a_personal_access_token(user):
    import asyncio

    from asgiref.sync import sync_to_async
    from channels.testing import WebsocketCommunicator
    from django.db import connections

    from deepiri.asgi import application
    from realtime import consumers

    _, raw = personal_tokens.create_token(
        user, name="socket", scopes=ALL_SCOPES, expires_at=timezone.now() + timedelta(days=1)
    )

    async def main():
        try:
            comm = WebsocketCommunicator(application, f"/ws/?token={raw}", headers=[(b"host", b"localhost")])
            await comm.connect(timeout=5)
            output = await comm.receive_output(timeout=5)
            assert output["type"] == "websocket.close"
            assert output["code"] == consumers.CLOSE_UNAUTHENTICATED
            await comm.wait()
        finally:
            await sync_to_async(connections.close_all)()

    asyncio.run(main())


def test_redis_down_means_the_database_answers_for_a_token(auth_client, make_token, settings):
    token_id, raw = make_token(["tasks:read"])
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": settings.REDIS_URL,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }
    from django.core.cache import cache

    cache.close()
    client = _pat_client(raw)
    assert client.get("/api/tasks").status_code == 200
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/api/tasks").status_code == 200
    assert _last_used_updates(ctx.captured_queries) <= 1  # conditional: no write within the minute
    assert PersonalAccessToken.objects.get(pk=token_id).last_used_at is not None
    personal_tokens.revoke(PersonalAccessToken.objects.filter(pk=token_id))
    assert client.get("/api/tasks").status_code == 401


def test_a_token_request_is_one_redis_round_trip(make_token, monkeypatch, settings):
    """The token's entry, its rate window and use gate, the user's entry and the user's rate
    window: one script call, as a JWT's request is one pipeline."""
    if "django_redis" not in settings.CACHES["default"]["BACKEND"]:
        pytest.skip("needs the Redis cache")
    import redis.connection

    sent: list[bytes] = []
    original = redis.connection.AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        chunks = [command] if isinstance(command, (bytes, str)) else command
        raw_bytes = b"".join(bytes(c) if not isinstance(c, str) else c.encode() for c in chunks)
        if b"PING" not in raw_bytes.split(b"\r\n")[:3]:
            sent.append(raw_bytes)
        return original(self, command, check_health)

    _, raw = make_token(["profile:read"])
    client = _pat_client(raw)
    assert client.get("/api/users/profile").status_code == 200  # fills the entries
    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting)
    response = client.get("/api/users/profile")
    assert response.status_code == 200
    assert len(sent) == 1, sent
    assert b"EVALSHA" in sent[0] and b"auth:pat:" in sent[0] and b"throttle_token_" in sent[0]
    assert b"auth:user:" in sent[0] and b"throttle_user_" in sent[0]
    remaining = int(response["RateLimit-Remaining"])
    assert int(client.get("/api/users/profile")["RateLimit-Remaining"]) == remaining - 1


def test_the_expiry_notice_is_a_beat_job(make_token, settings, user):
    from kernel import jobs

    make_token(["tasks:read"], days=2)
    name = settings.CELERY_BEAT_SCHEDULE["accounts-notify-expiring-tokens"]["task"]
    assert jobs.task_named(name).apply().get() == 1
    assert jobs.task_named(name).apply().get() == 0
    assert Notification.objects.filter(user=user, data__kind="token_expiring").count() == 1


def test_the_schema_names_the_scope_of_each_operation_a_token_may_use(api_client):
    schema = api_client.get("/api/schema", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    assert paths["/api/tasks"]["get"]["x-required-scope"] == "tasks:read"
    assert paths["/api/tasks"]["post"]["x-required-scope"] == "tasks:write"
    assert {"personalAccessToken": []} in paths["/api/tasks"]["post"]["security"]
    for path, method in (("/api/tokens", "post"), ("/api/users/account", "delete")):
        operation = paths[path][method]
        assert "x-required-scope" not in operation
        assert all("personalAccessToken" not in entry for entry in operation["security"])
