"""Social login through django-allauth against a fake GitHub on 127.0.0.1, then a JWT pair for the
API client; Firebase ID tokens verified against a local key set."""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

import jwt
import pytest
import requests
from allauth.socialaccount.providers.github.views import GitHubOAuth2Adapter
from cryptography.hazmat.primitives.asymmetric import rsa

from accounts import firebase
from accounts.models import User
from accounts.tests.fake_oauth import FakeGitHub
from devtools.testing.fakeserver import FakeServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake_github(settings, monkeypatch):
    state = {
        "client_id": "gh-client",
        "client_secret": "gh-secret",
        "user": {"id": 4242, "login": "octocat", "name": "Octo Cat", "email": None},
        "emails": [{"email": "octo@example.com", "primary": True, "verified": True}],
    }
    with FakeServer(FakeGitHub, state) as server:
        settings.SOCIALACCOUNT_PROVIDERS = {
            **settings.SOCIALACCOUNT_PROVIDERS,
            "github": {"APPS": [{"client_id": "gh-client", "secret": "gh-secret"}], "SCOPE": ["read:user", "user:email"]},
        }
        # allauth's adapter takes GitHub's base URL from GITHUB_URL when the module loads; point it at the fake.
        monkeypatch.setattr(GitHubOAuth2Adapter, "access_token_url", f"{server.url}/login/oauth/access_token")
        monkeypatch.setattr(GitHubOAuth2Adapter, "authorize_url", f"{server.url}/login/oauth/authorize")
        monkeypatch.setattr(GitHubOAuth2Adapter, "profile_url", f"{server.url}/api/v3/user")
        monkeypatch.setattr(GitHubOAuth2Adapter, "emails_url", f"{server.url}/api/v3/user/emails")
        yield server


def test_github_oauth_round_trip_then_jwt_pair(client, fake_github):
    r = client.post("/accounts/github/login/")
    assert r.status_code == 302
    authorize = r["Location"]
    assert authorize.startswith(fake_github.url + "/login/oauth/authorize")
    # the browser follows the redirect to the provider, which sends it back with a code
    provider = requests.get(authorize, allow_redirects=False, timeout=5)
    assert provider.status_code == 302
    back = urlparse(provider.headers["Location"])
    assert back.path == "/accounts/github/login/callback/"
    r = client.get(back.path, {k: v[0] for k, v in parse_qs(back.query).items()})
    assert r.status_code == 302, r.content[:500]
    assert r["Location"] == "/api/auth/social/complete"
    user = User.objects.get(email="octo@example.com")
    assert user.name == "Octo Cat"
    assert list(user.groups.values_list("name", flat=True)) == ["user"]

    r = client.get("/api/auth/social/complete")
    assert r.status_code == 200
    data = r.json()["data"]
    assert data["user"]["email"] == "octo@example.com"
    r = client.get("/api/auth/verify", HTTP_AUTHORIZATION=f"Bearer {data['token']}")
    assert r.status_code == 200


def test_social_complete_without_a_session_is_401_or_403(client):
    assert client.get("/api/auth/social/complete").status_code in (401, 403)


def test_github_callback_with_a_forged_state_creates_nobody(client, fake_github):
    client.post("/accounts/github/login/")
    r = client.get("/accounts/github/login/callback/", {"code": "nope", "state": "forged"})
    assert r.status_code in (400, 401)  # allauth's authentication-error page
    assert not User.objects.filter(email="octo@example.com").exists()


# --------------------------------------------------------------------------- Firebase


@pytest.fixture
def firebase_keys(settings):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "test-kid", "alg": "RS256", "use": "sig"})

    class JWKS(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            raw = json.dumps({"keys": [jwk]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    with FakeServer(JWKS) as server:
        settings.FIREBASE_PROJECT_ID = "deepiri-test"
        settings.FIREBASE_JWKS_URL = server.url + "/jwks"
        firebase._clients.clear()
        yield key
        firebase._clients.clear()


def _id_token(key, **over):
    now = int(time.time())
    claims = {
        "iss": "https://securetoken.google.com/deepiri-test",
        "aud": "deepiri-test",
        "sub": "firebase-uid-1",
        "iat": now,
        "exp": now + 3600,
        "auth_time": now,
        "email": "fire@example.com",
        "email_verified": True,
        "name": "Fire Base",
        **over,
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "test-kid"})


def test_firebase_sign_in_creates_user_and_returns_pair(api_client, firebase_keys):
    r = api_client.post("/api/auth/firebase", {"idToken": _id_token(firebase_keys)}, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["data"]["user"]["email"] == "fire@example.com"
    assert User.objects.filter(email="fire@example.com").count() == 1
    r = api_client.post("/api/auth/firebase", {"idToken": _id_token(firebase_keys)}, format="json")
    assert r.status_code == 200 and User.objects.filter(email="fire@example.com").count() == 1


@pytest.mark.parametrize(
    "over",
    [{"aud": "someone-else"}, {"iss": "https://evil.example.com"}, {"exp": int(time.time()) - 3600}, {"email_verified": False}],
)
def test_firebase_rejects_bad_claims(api_client, firebase_keys, over):
    r = api_client.post("/api/auth/firebase", {"idToken": _id_token(firebase_keys, **over)}, format="json")
    assert r.status_code == 401
    assert not User.objects.filter(email="fire@example.com").exists()


def test_firebase_rejects_a_token_signed_by_another_key(api_client, firebase_keys):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    r = api_client.post("/api/auth/firebase", {"idToken": _id_token(other)}, format="json")
    assert r.status_code == 401


def test_firebase_off_when_not_configured(api_client, settings):
    settings.FIREBASE_PROJECT_ID = ""
    assert api_client.post("/api/auth/firebase", {"idToken": "x"}, format="json").status_code == 404


# --------------------------------------------------------------------------- hijack before sign-up
# An attacker registers the victim's address with a password first; when the real owner later
# signs in through a provider that verified the address, the attacker must be locked out.


def _attacker_registers(api_client, email, password="Attacker-Pass-99!"):
    r = api_client.post("/api/auth/register", {"name": "Mallory", "email": email, "password": password}, format="json")
    assert r.status_code == 201, r.content
    return r.json()["data"], password


def _assert_attacker_locked_out(email, password, pair):
    from rest_framework.test import APIClient

    assert APIClient().post("/api/auth/login", {"email": email, "password": password}, format="json").status_code == 401
    stale = APIClient()
    stale.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['token']}")
    assert stale.get("/api/auth/verify").status_code == 401
    assert APIClient().post("/api/auth/refresh", {"refreshToken": pair["refreshToken"]}, format="json").status_code == 401


def test_firebase_owner_takes_over_an_unverified_registration(api_client, firebase_keys):
    pair, password = _attacker_registers(api_client, "fire@example.com")
    r = api_client.post("/api/auth/firebase", {"idToken": _id_token(firebase_keys)}, format="json")
    assert r.status_code == 200, r.content
    victim = r.json()["data"]
    user = User.objects.get(email="fire@example.com")
    assert not user.has_usable_password()
    _assert_attacker_locked_out("fire@example.com", password, pair)
    from rest_framework.test import APIClient

    own = APIClient()
    own.credentials(HTTP_AUTHORIZATION=f"Bearer {victim['token']}")
    assert own.get("/api/auth/verify").status_code == 200


def test_firebase_sign_in_keeps_the_password_of_a_verified_account(api_client, firebase_keys):
    from django.core import mail

    _, password = _attacker_registers(api_client, "fire@example.com")  # here: the real owner
    token = mail.outbox[-1].body.split("paste this token into the app: ")[1].split()[0]
    assert api_client.post("/api/auth/verify-email", {"token": token}, format="json").status_code == 200
    assert api_client.post("/api/auth/firebase", {"idToken": _id_token(firebase_keys)}, format="json").status_code == 200
    login = api_client.post("/api/auth/login", {"email": "fire@example.com", "password": password}, format="json")
    assert login.status_code == 200


def test_github_owner_takes_over_an_unverified_registration(client, api_client, fake_github):
    pair, password = _attacker_registers(api_client, "octo@example.com")
    attacker_id = pair["user"]["id"]
    r = client.post("/accounts/github/login/")
    provider = requests.get(r["Location"], allow_redirects=False, timeout=5)
    back = urlparse(provider.headers["Location"])
    r = client.get(back.path, {k: v[0] for k, v in parse_qs(back.query).items()})
    assert r.status_code == 302, r.content[:500]
    assert r["Location"] == "/api/auth/social/complete"
    data = client.get("/api/auth/social/complete").json()["data"]
    assert data["user"]["id"] == attacker_id  # the same account, now the owner's
    assert not User.objects.get(pk=attacker_id).has_usable_password()
    _assert_attacker_locked_out("octo@example.com", password, pair)


def test_register_mails_a_verification_link(api_client):
    from django.core import mail

    from accounts.services import is_email_verified

    api_client.post(
        "/api/auth/register", {"name": "Val", "email": "val@example.com", "password": "Val-Pass-12345"}, format="json"
    )
    user = User.objects.get(email="val@example.com")
    assert not is_email_verified(user)
    assert [m.to for m in mail.outbox] == [["val@example.com"]]
    token = mail.outbox[0].body.split("paste this token into the app: ")[1].split()[0]
    assert api_client.post("/api/auth/verify-email", {"token": "garbage"}, format="json").status_code == 400
    r = api_client.post("/api/auth/verify-email", {"token": token}, format="json")
    assert r.status_code == 200
    assert is_email_verified(user)
