"""A staff member with an authenticator (TOTP) who signs in through the REST API with the
password alone gets a JWT; that token must not open the staff-only REST routes (/metrics,
health details), or the admin's second factor is bypassed by asking the API instead. Such an
account reaches them through the admin's session that passed the authenticator step; machines
use an API key."""

# ruff: noqa: F811  (fixtures are imported from devtools.testing and named as parameters)
from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from accounts.models import ScopedAPIKey
from devtools.testing.admin import admin_user, make_role_user, staff_member  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db


def _device(user):
    call_command("add_totp_device", user.email, stdout=open("/dev/null", "w"))  # noqa: SIM115
    return TOTPDevice.objects.get(user=user)


def _code(device) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):0{device.digits}d}"


def _api_sign_in(user, password) -> APIClient:
    client = APIClient()
    response = client.post("/api/auth/login", {"email": user.email, "password": password}, format="json")
    assert response.status_code == 200, response.content
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['data']['token']}")
    return client


def test_a_password_only_token_of_a_staff_member_with_an_authenticator_opens_no_staff_route(staff_member, password):
    _device(staff_member)
    client = _api_sign_in(staff_member, password)
    refused = client.get("/metrics")
    assert refused.status_code == 403
    assert refused.json()["code"] == "second_factor_required"
    # health answers, but as to anyone: up or down, no details
    health = client.get("/api/health").json()["data"]
    assert all(info == {"status": "up"} or info == {"status": "down"} for info in health["services"].values()), health
    # the rest of the API is the member's as usual
    assert client.get("/api/users/profile").status_code == 200


def test_the_admin_session_that_passed_the_authenticator_reads_the_metrics(staff_member, password):
    device = _device(staff_member)
    browser = Client()
    signed = browser.post(
        "/admin/login/",
        {"username": staff_member.email, "password": password, "otp_token": _code(device), "next": "/admin/"},
        REMOTE_ADDR="198.51.100.7",
    )
    assert signed.status_code == 302
    assert browser.get("/metrics").status_code == 200
    # a session of the same member without the authenticator step does not
    unverified = Client()
    unverified.force_login(staff_member, backend="accounts.backends.EmailBackend")
    assert unverified.get("/metrics").status_code == 403


def test_staff_without_an_authenticator_and_metrics_keys_are_unchanged(staff_member, password):
    client = _api_sign_in(staff_member, password)
    assert client.get("/metrics").status_code == 200
    health = client.get("/api/health").json()["data"]
    # the staff view names what runs (the embedded AI fallback), the public one says only up/down
    assert health["services"]["ai"]["status"] == "fallback", health
    _, key = ScopedAPIKey.objects.create_key(name="prometheus", scope="metrics")
    assert APIClient().get("/metrics", HTTP_AUTHORIZATION=f"Api-Key {key}").status_code == 200


def test_with_admin_require_2fa_an_admin_token_opens_no_staff_route(admin_user, password, settings):
    settings.ADMIN_REQUIRE_2FA = True
    refused = _api_sign_in(admin_user, password).get("/metrics")
    assert refused.status_code == 403
    assert refused.json()["code"] == "second_factor_required"
