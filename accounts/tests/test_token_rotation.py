"""Refresh-token rotation under attack: parallel refreshes with one token against a real HTTP
server on PostgreSQL, replay of a rotated token, and access tokens after logout."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connection

from accounts.models import TokenFamily, User
from accounts.tokens import issue_pair

PARALLEL = 10


def _post(base, path, body, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(f"{base}{path}", json=body, headers=headers, timeout=30)


def _get(base, path, token):
    return requests.get(f"{base}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30)


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_parallel_refreshes_with_one_token_let_exactly_one_through(live_server, settings, password):
    assert connection.vendor == "postgresql"
    user = User.objects.create_user(email="racer@example.com", password=password, name="Racer")
    pair = issue_pair(user)
    base = live_server.url
    barrier = threading.Barrier(PARALLEL)

    def refresh(_):
        barrier.wait()
        return _post(base, "/api/auth/refresh", {"refreshToken": pair["refresh_token"]})

    with ThreadPoolExecutor(PARALLEL) as pool:
        responses = list(pool.map(refresh, range(PARALLEL)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [401] * (PARALLEL - 1), codes
    winner = next(r.json()["data"] for r in responses if r.status_code == 200)
    # the losers of the race were two tabs at once, not a thief: the winner's pair keeps working
    assert _get(base, "/api/auth/verify", winner["token"]).status_code == 200
    family = TokenFamily.objects.get(user=user)
    assert family.revoked_at is None

    # a replay after the grace period is a stolen token: the whole family goes
    settings.REFRESH_REUSE_GRACE_SECONDS = 0
    replay = _post(base, "/api/auth/refresh", {"refreshToken": pair["refresh_token"]})
    assert replay.status_code == 401
    family.refresh_from_db()
    assert family.revoked_at is not None
    assert _post(base, "/api/auth/refresh", {"refreshToken": winner["refreshToken"]}).status_code == 401
    assert _get(base, "/api/auth/verify", winner["token"]).status_code == 401
    # another sign-in of the same user is untouched
    other = issue_pair(user)
    assert _get(base, "/api/auth/verify", other["token"]).status_code == 200
    assert _post(base, "/api/auth/refresh", {"refreshToken": other["refresh_token"]}).status_code == 200


@pytest.mark.django_db
def test_replayed_refresh_token_revokes_its_family(api_client, settings, make_user):
    settings.REFRESH_REUSE_GRACE_SECONDS = 0
    user = make_user()
    first = issue_pair(user)
    second = api_client.post("/api/auth/refresh", {"refreshToken": first["refresh_token"]}, format="json")
    assert second.status_code == 200
    second = second.json()["data"]
    third = api_client.post("/api/auth/refresh", {"refreshToken": second["refreshToken"]}, format="json").json()["data"]
    # the thief replays the first token: refused, and the legitimate chain dies with it
    assert api_client.post("/api/auth/refresh", {"refreshToken": first["refresh_token"]}, format="json").status_code == 401
    assert api_client.post("/api/auth/refresh", {"refreshToken": third["refreshToken"]}, format="json").status_code == 401
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {third['token']}")
    assert api_client.get("/api/auth/verify").status_code == 401


@pytest.mark.django_db
def test_access_token_stops_working_at_logout(api_client, make_user):
    user = make_user()
    pair = issue_pair(user)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['token']}")
    assert api_client.get("/api/auth/verify").status_code == 200
    assert api_client.post("/api/auth/logout", {"refreshToken": pair["refresh_token"]}, format="json").status_code == 200
    assert api_client.get("/api/auth/verify").status_code == 401
    assert api_client.post("/api/auth/refresh", {"refreshToken": pair["refresh_token"]}, format="json").status_code == 401


@pytest.mark.django_db
def test_logout_with_only_the_access_token_ends_that_sign_in(api_client, make_user):
    user = make_user()
    pair = issue_pair(user)
    other = issue_pair(user)  # another device
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['token']}")
    assert api_client.post("/api/auth/logout", {}, format="json").status_code == 200
    assert api_client.get("/api/auth/verify").status_code == 401
    api_client.credentials()
    assert api_client.post("/api/auth/refresh", {"refreshToken": pair["refresh_token"]}, format="json").status_code == 401
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {other['token']}")
    assert api_client.get("/api/auth/verify").status_code == 200


@pytest.mark.django_db
def test_logged_out_token_is_refused_on_the_websocket_handshake(make_user):
    from accounts.auth_cache import user_for_access_token
    from accounts.tokens import log_out_access_token

    user = make_user()
    pair = issue_pair(user)
    assert user_for_access_token(pair["token"]) == user
    log_out_access_token(pair["token"])
    assert user_for_access_token(pair["token"]) is None
