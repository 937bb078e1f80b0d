"""/api/auth/: register, login, verify, refresh rotation, logout, password reset — and the bad inputs."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import PasswordResetToken, User

pytestmark = pytest.mark.django_db

STRONG = "Correct-Horse-42!"


def register(client, **over):
    body = {"name": "Alice", "email": "alice@example.com", "password": STRONG, **over}
    return client.post("/api/auth/register", body, format="json")


def test_register_returns_envelope_user_tokens_and_cookie(api_client):
    r = register(api_client, timezone="Europe/Berlin", preferences={"theme": "dark"})
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["success"] is True
    user = body["data"]["user"]
    assert user["_id"] == user["id"]
    assert user["email"] == "alice@example.com"
    assert user["timezone"] == "Europe/Berlin"
    assert user["preferences"] == {"theme": "dark"}
    assert user["roles"] == ["user"]
    assert "password" not in user and "refreshToken" not in user
    assert body["data"]["token"] and body["data"]["refreshToken"]
    cookie = r.cookies["refresh_token"]
    assert cookie["httponly"]
    assert cookie.value == body["data"]["refreshToken"]
    assert r["X-Request-ID"]


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"password": "short"}, "password"),
        ({"password": "password123"}, "password"),
        ({"password": None}, "password"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"name": ""}, "name"),
        ({"preferences": {"unknownKey": 1}}, "preferences"),
        ({"isStaff": True}, "is_staff"),
        ({"email": "not-an-email"}, "email"),
    ],
)
def test_register_bad_input_is_400_with_field_errors_and_writes_nothing(api_client, over, field):
    User.objects.create_user(email="alice@example.com", password=STRONG, name="Existing")
    before = User.objects.count()
    body = {"name": "Alice", "email": "new@example.com", "password": STRONG, **over}
    body = {k: v for k, v in body.items() if v is not None}
    r = api_client.post("/api/auth/register", body, format="json")
    assert r.status_code == 400, r.content
    data = r.json()
    assert data["success"] is False
    assert data["requestId"]
    errors = data["errors"]
    assert any(k.lower().replace("_", "") == field.replace("_", "").lower() for k in errors), errors
    assert User.objects.count() == before


def test_malformed_json_wrong_content_type_and_oversized_body(api_client, settings):
    r = api_client.generic("POST", "/api/auth/register", "{not json", content_type="application/json")
    assert r.status_code == 400 and r.json()["success"] is False
    r = api_client.generic("POST", "/api/auth/register", "name=a", content_type="text/plain")
    assert r.status_code == 415 and r.json()["success"] is False
    big = '{"name": "' + "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10) + '"}'
    r = api_client.generic("POST", "/api/auth/register", big, content_type="application/json")
    assert r.status_code == 413 and r.json()["success"] is False
    assert User.objects.count() == 0


def test_login_verify_refresh_rotation_logout(api_client):
    register(api_client)
    r = api_client.post("/api/auth/login", {"email": "ALICE@example.com", "password": STRONG}, format="json")
    assert r.status_code == 200
    access, refresh = r.json()["data"]["token"], r.json()["data"]["refreshToken"]

    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    r = api_client.get("/api/auth/verify")
    assert r.status_code == 200 and r.json()["data"]["user"]["email"] == "alice@example.com"
    api_client.credentials()

    r = api_client.post("/api/auth/refresh", {"refreshToken": refresh}, format="json")
    assert r.status_code == 200
    new_refresh = r.json()["data"]["refreshToken"]
    assert new_refresh != refresh
    # the rotated token is dead
    r = api_client.post("/api/auth/refresh", {"refreshToken": refresh}, format="json")
    assert r.status_code == 401 and r.json()["success"] is False

    # the cookie works as well as the body
    api_client.cookies["refresh_token"] = new_refresh
    r = api_client.post("/api/auth/refresh", {}, format="json")
    assert r.status_code == 200
    newest = r.json()["data"]["refreshToken"]

    r = api_client.post("/api/auth/logout", {"refreshToken": newest}, format="json")
    assert r.status_code == 200
    assert r.cookies["refresh_token"].value == ""
    r = api_client.post("/api/auth/refresh", {"refreshToken": newest}, format="json")
    assert r.status_code == 401


def test_login_failures(api_client, user):
    r = api_client.post("/api/auth/login", {"email": user.email, "password": "wrong-password"}, format="json")
    assert r.status_code == 401 and r.json()["message"] == "Invalid credentials"
    r = api_client.post("/api/auth/login", {"email": "nobody@example.com", "password": "x"}, format="json")
    assert r.status_code == 401
    r = api_client.post("/api/auth/login", {"email": user.email}, format="json")
    assert r.status_code == 400 and "password" in r.json()["errors"]
    user.is_active = False
    user.save()
    r = api_client.post("/api/auth/login", {"email": user.email, "password": "Correct-Horse-42!"}, format="json")
    assert r.status_code == 401


def test_expired_tampered_and_missing_access_tokens(api_client, user):
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.tokens import issue_pair

    assert api_client.get("/api/auth/verify").status_code == 401
    token = issue_pair(user)["token"]
    head, payload, sig = token.split(".")
    tampered = f"{head}.{payload}.{sig[:-2]}{'AA' if not sig.endswith('AA') else 'BB'}"
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tampered}")
    r = api_client.get("/api/auth/verify")
    assert r.status_code == 401 and r.json()["success"] is False

    expired = AccessToken.for_user(user)
    expired.set_exp(lifetime=-timedelta(minutes=1))
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {expired}")
    assert api_client.get("/api/auth/verify").status_code == 401


def test_deactivated_and_deleted_users_tokens_stop_working(api_client, user):
    from accounts import services
    from accounts.tokens import issue_pair

    pair = issue_pair(user)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['token']}")
    assert api_client.get("/api/auth/verify").status_code == 200
    services.set_active(user, False)
    assert api_client.get("/api/auth/verify").status_code == 401
    api_client.credentials()
    assert api_client.post("/api/auth/refresh", {"refreshToken": pair["refresh_token"]}, format="json").status_code == 401

    services.set_active(user, True)
    pair = issue_pair(user)
    User.objects.filter(pk=user.pk).delete()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['token']}")
    assert api_client.get("/api/auth/verify").status_code == 401


def test_forgot_and_reset_password(api_client, user):
    from accounts.tokens import issue_pair

    old_pair = issue_pair(user)
    r = api_client.post("/api/auth/forgot-password", {"email": "nobody@example.com"}, format="json")
    assert r.status_code == 200 and len(mail.outbox) == 0  # no probing, nothing sent
    r = api_client.post("/api/auth/forgot-password", {"email": user.email.upper()}, format="json")
    assert r.status_code == 200 and len(mail.outbox) == 1
    raw = re.search(r"into the app: (\S+)", mail.outbox[0].body).group(1)

    r = api_client.post("/api/auth/reset-password", {"token": raw, "newPassword": "short"}, format="json")
    assert r.status_code == 400 and "newPassword" in r.json()["errors"]
    r = api_client.post("/api/auth/reset-password", {"token": "bogus", "newPassword": "An0ther-Strong-One"}, format="json")
    assert r.status_code == 400
    r = api_client.post("/api/auth/reset-password", {"token": raw, "newPassword": "An0ther-Strong-One"}, format="json")
    assert r.status_code == 200
    # used token is dead, password really changed, old tokens are dead
    r = api_client.post("/api/auth/reset-password", {"token": raw, "newPassword": "Yet-An0ther-One"}, format="json")
    assert r.status_code == 400
    assert api_client.post("/api/auth/login", {"email": user.email, "password": "An0ther-Strong-One"}, format="json").status_code == 200
    assert api_client.post("/api/auth/login", {"email": user.email, "password": STRONG}, format="json").status_code == 401
    assert api_client.post("/api/auth/refresh", {"refreshToken": old_pair["refresh_token"]}, format="json").status_code == 401
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {old_pair['token']}")
    assert api_client.get("/api/auth/verify").status_code == 401


def test_expired_reset_token(api_client, user):
    api_client.post("/api/auth/forgot-password", {"email": user.email}, format="json")
    raw = re.search(r"into the app: (\S+)", mail.outbox[0].body).group(1)
    PasswordResetToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    r = api_client.post("/api/auth/reset-password", {"token": raw, "newPassword": "An0ther-Strong-One"}, format="json")
    assert r.status_code == 400


def test_login_throttle_per_email_answers_429_with_retry_after(api_client, user, settings):
    from django.core.cache import cache
    from rest_framework.settings import api_settings

    rates = dict(api_settings.DEFAULT_THROTTLE_RATES)
    assert "login_email" in rates
    codes = []
    for _ in range(12):
        r = api_client.post("/api/auth/login", {"email": user.email, "password": "wrong"}, format="json")
        codes.append(r.status_code)
    assert 429 in codes
    r = api_client.post("/api/auth/login", {"email": user.email, "password": "wrong"}, format="json")
    assert r.status_code == 429 and int(r["Retry-After"]) > 0
    assert r.json()["success"] is False
    cache.clear()


def test_request_id_is_echoed_and_unknown_route_is_json_404(api_client):
    r = api_client.get("/api/health/live", HTTP_X_REQUEST_ID="abc-123")
    assert r["X-Request-ID"] == "abc-123"
    r = api_client.get("/api/nope")
    assert r.status_code == 404 and r.json()["success"] is False
