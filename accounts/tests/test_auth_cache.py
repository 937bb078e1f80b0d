"""Cached authentication: the user and roles come from the cache (no query per request), and
every change that matters is seen by the very next request."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import services
from accounts.tokens import issue_pair
from conftest import client_for
from kernel import roles

pytestmark = pytest.mark.django_db


def _user_queries(queries) -> list[str]:
    return [q["sql"] for q in queries if '"accounts_user"' in q["sql"] or '"auth_group"' in q["sql"]]


def _profile(client):
    response = client.get("/api/users/profile")
    return response.status_code, response.json()


def test_a_known_token_costs_no_user_or_role_query(auth_client, user):
    assert _profile(auth_client)[0] == 200  # first request: read and cached
    with CaptureQueriesContext(connection) as ctx:
        status, body = _profile(auth_client)
    assert status == 200 and body["data"]["email"] == user.email and body["data"]["roles"] == ["user"]
    assert _user_queries(ctx.captured_queries) == []


def test_deactivated_user_is_refused_at_once(auth_client, user):
    assert _profile(auth_client)[0] == 200
    services.set_active(user, False)
    status, body = _profile(auth_client)
    assert status == 401 and body["success"] is False
    services.set_active(user, True)
    # deactivation ended the user's sign-ins: the old token stays dead, a new sign-in works
    assert _profile(auth_client)[0] == 401
    assert _profile(client_for(user))[0] == 200


def test_admin_save_of_is_active_is_seen_at_once(auth_client, user):
    from accounts.models import User

    assert _profile(auth_client)[0] == 200
    fresh = User.objects.get(pk=user.pk)  # another process's copy of the row, as the admin has
    fresh.is_active = False
    fresh.save()
    assert _profile(auth_client)[0] == 401


def test_password_reset_refuses_the_old_token_even_when_it_was_cached(api_client, auth_client, user):
    assert _profile(auth_client)[0] == 200
    api_client.post("/api/auth/forgot-password", {"email": user.email}, format="json")
    raw = re.search(r"into the app: (\S+)", mail.outbox[-1].body).group(1)
    r = api_client.post("/api/auth/reset-password", {"token": raw, "newPassword": "An0ther-Strong-One"}, format="json")
    assert r.status_code == 200
    assert _profile(auth_client)[0] == 401  # minted before the change
    user.refresh_from_db()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_pair(user)['token']}")
    assert _profile(api_client)[0] == 200
    assert _profile(auth_client)[0] == 401  # the new token's entry does not serve the old token


def test_a_stale_token_never_fills_the_cache_for_itself(auth_client, user):
    user.set_password("Yet-Another-Pass-9")
    user.save()
    for _ in range(2):
        assert _profile(auth_client)[0] == 401


def test_deleted_user_is_refused_at_once(auth_client, user, password):
    assert _profile(auth_client)[0] == 200
    token = auth_client._credentials["HTTP_AUTHORIZATION"]
    r = auth_client.delete("/api/users/account", {"password": password}, format="json")
    assert r.status_code == 200
    auth_client.credentials(HTTP_AUTHORIZATION=token)
    assert _profile(auth_client)[0] == 401


def test_role_changes_are_seen_at_once_both_ways(auth_client, user):
    assert _profile(auth_client)[1]["data"]["roles"] == ["user"]
    roles.grant_role(user, roles.MODERATOR)  # user.groups.set(...)
    assert sorted(_profile(auth_client)[1]["data"]["roles"]) == ["moderator", "user"]
    Group.objects.get(name=roles.STAFF).user_set.add(user)  # from the group's side
    assert "staff" in _profile(auth_client)[1]["data"]["roles"]
    Group.objects.get(name=roles.STAFF).user_set.clear()
    assert "staff" not in _profile(auth_client)[1]["data"]["roles"]
    roles.revoke_role(user, roles.MODERATOR)
    assert _profile(auth_client)[1]["data"]["roles"] == ["user"]


def test_profile_changes_are_seen_at_once(auth_client, user):
    assert _profile(auth_client)[1]["data"]["name"] == user.name
    r = auth_client.patch("/api/users/profile", {"name": "Renamed", "bio": "new bio"}, format="json")
    assert r.status_code == 200
    data = _profile(auth_client)[1]["data"]
    assert (data["name"], data["bio"]) == ("Renamed", "new bio")
    r = auth_client.put("/api/users/preferences", {"theme": "dark"}, format="json")
    assert r.status_code == 200, r.content
    assert auth_client.get("/api/users/preferences").json()["data"] == r.json()["data"]


def test_cache_down_means_the_database_answers(auth_client, user, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }
    from django.core.cache import cache

    cache.close()
    assert _profile(auth_client)[0] == 200
    services.set_active(user, False)
    assert _profile(auth_client)[0] == 401


@pytest.fixture
def redis_round_trips(monkeypatch):
    """What each round trip to Redis sent (a pipeline is one), health-check PINGs left out."""
    import redis.connection

    sent: list[bytes] = []
    original = redis.connection.AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        chunks = [command] if isinstance(command, (bytes, str)) else command
        raw = b"".join(bytes(c) if not isinstance(c, str) else c.encode() for c in chunks)
        if b"PING" not in raw.split(b"\r\n")[:3]:
            sent.append(raw)
        return original(self, command, check_health)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting)
    return sent


def test_a_signed_in_request_is_one_redis_round_trip(auth_client, redis_round_trips, settings):
    if "django_redis" not in settings.CACHES["default"]["BACKEND"]:
        pytest.skip("needs the Redis cache")
    assert _profile(auth_client)[0] == 200  # fills the entry
    redis_round_trips.clear()
    response = auth_client.get("/api/users/profile")
    assert response.status_code == 200
    # the user entry, the token's denylist entries and the per-user rate window, together
    assert len(redis_round_trips) == 1, redis_round_trips
    sent = redis_round_trips[0]
    assert b"MGET" in sent and b"auth:user:" in sent and b"auth:deny:jti:" in sent
    assert b"INCR" in sent and b"throttle:throttle_user_" in sent
    remaining = int(response["RateLimit-Remaining"])
    assert int(auth_client.get("/api/users/profile")["RateLimit-Remaining"]) == remaining - 1


def test_redis_down_lets_a_signed_in_request_through(auth_client, user, settings):
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
    assert _profile(auth_client)[0] == 200


def test_a_logged_out_token_is_refused_when_its_user_is_cached(auth_client, user):
    assert _profile(auth_client)[0] == 200  # the entry is there: logout must still be seen
    assert auth_client.post("/api/auth/logout", {}, format="json").status_code == 200
    status, body = _profile(auth_client)
    assert status == 401 and body["success"] is False
