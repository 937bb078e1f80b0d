"""The `/socket.io/` cookie ticket: set by login/register/refresh, rotated, dead after logout."""

from __future__ import annotations

import pytest

from accounts import socket_ticket

pytestmark = pytest.mark.django_db

PASSWORD = "Str0ng-Passw0rd!xyz"


def ticket_cookie(response):
    cookie = response.cookies[socket_ticket.COOKIE_NAME]
    return cookie


def test_login_sets_an_httponly_strict_cookie_for_the_socket_path_only(api_client, make_user):
    user = make_user(email="t@example.com", password=PASSWORD)
    r = api_client.post("/api/auth/login", {"email": "t@example.com", "password": PASSWORD}, format="json")
    assert r.status_code == 200
    cookie = ticket_cookie(r)
    assert cookie["path"] == "/socket.io/"
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert int(cookie["max-age"]) == socket_ticket.lifetime_seconds() == 15 * 60
    assert socket_ticket.user_for_ticket(cookie.value) == user
    assert cookie.value not in r.content.decode()  # never in the body: script cannot get it


def test_register_sets_it_too(api_client):
    r = api_client.post(
        "/api/auth/register", {"name": "Nina", "email": "n@example.com", "password": PASSWORD}, format="json"
    )
    assert r.status_code == 201
    assert socket_ticket.user_for_ticket(ticket_cookie(r).value).email == "n@example.com"


def test_refresh_rotates_it_and_the_old_one_stops_working(api_client, make_user):
    user = make_user(email="r@example.com", password=PASSWORD)
    login = api_client.post("/api/auth/login", {"email": "r@example.com", "password": PASSWORD}, format="json")
    old = ticket_cookie(login).value
    refreshed = api_client.post(
        "/api/auth/refresh", {"refreshToken": login.json()["data"]["refreshToken"]}, format="json"
    )
    assert refreshed.status_code == 200
    new = ticket_cookie(refreshed).value
    assert new != old
    assert socket_ticket.user_for_ticket(new) == user
    assert socket_ticket.user_for_ticket(old) is None  # its refresh token was blacklisted by the rotation


def test_logout_clears_it_and_a_kept_copy_is_dead(api_client, make_user):
    make_user(email="l@example.com", password=PASSWORD)
    login = api_client.post("/api/auth/login", {"email": "l@example.com", "password": PASSWORD}, format="json")
    kept = ticket_cookie(login).value
    out = api_client.post("/api/auth/logout", {"refreshToken": login.json()["data"]["refreshToken"]}, format="json")
    assert out.status_code == 200
    cleared = ticket_cookie(out)
    assert cleared.value == "" and cleared["path"] == "/socket.io/" and cleared["max-age"] == 0
    assert socket_ticket.user_for_ticket(kept) is None


def test_password_change_deactivation_forgery_and_expiry(make_user, settings):
    from accounts.tokens import issue_pair

    user = make_user(email="p@example.com", password=PASSWORD)
    raw = socket_ticket.issue(user, issue_pair(user)["refresh_token"])
    assert socket_ticket.user_for_ticket(raw) == user
    assert socket_ticket.user_for_ticket(raw[:-2] + ("aa" if not raw.endswith("aa") else "bb")) is None
    assert socket_ticket.user_for_ticket("") is None and socket_ticket.user_for_ticket("x" * 5000) is None
    # a value signed for something else (same key, other salt) is not a ticket
    from django.core import signing

    assert socket_ticket.user_for_ticket(signing.dumps({"u": user.pk, "p": "x", "j": "y"})) is None
    settings.SOCKET_TICKET_SECONDS = -1  # already expired
    assert socket_ticket.user_for_ticket(raw) is None
    settings.SOCKET_TICKET_SECONDS = None
    user.set_password("another long password 123")
    user.save()
    assert socket_ticket.user_for_ticket(raw) is None
    user2 = make_user(email="q@example.com", password=PASSWORD)
    raw2 = socket_ticket.issue(user2, issue_pair(user2)["refresh_token"])
    user2.is_active = False
    user2.save()
    assert socket_ticket.user_for_ticket(raw2) is None
