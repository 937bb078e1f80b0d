"""Brute force on /admin/login/ and the second factor, driven through the real login form."""

# ruff: noqa: F811  (fixtures are imported from devtools.testing and named as parameters)

from __future__ import annotations

import time

import pytest
from django.core.management import call_command
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from devtools.testing.admin import admin_user, make_role_user, staff_member  # noqa: F401  (fixtures)
from kernel import roles

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
INDEX = "/admin/"


def login(client, user_or_email, password, *, otp="", ip="198.51.100.7"):
    email = getattr(user_or_email, "email", user_or_email)
    return client.post(
        LOGIN, {"username": email, "password": password, "otp_token": otp, "next": INDEX}, REMOTE_ADDR=ip
    )


def signed_in(client) -> bool:
    return client.get(INDEX).status_code == 200


def test_forty_wrong_passwords_then_the_right_one_is_refused(staff_member, password):
    client = Client()
    codes = [login(client, staff_member, f"wrong-{n}").status_code for n in range(40)]
    assert codes[0] == 200  # the form again, with an error
    assert 429 in codes
    response = login(client, staff_member, password)
    assert response.status_code == 429
    assert not signed_in(client)


def test_lockout_is_per_account_across_addresses(staff_member, password, settings):
    client = Client()
    for n in range(settings.AXES_FAILURE_LIMIT):
        login(client, staff_member, "wrong", ip=f"203.0.113.{n + 1}")
    response = login(Client(), staff_member, password, ip="192.0.2.200")
    assert response.status_code == 429


def test_lockout_is_per_address_across_accounts(make_role_user, password, settings):
    victims = [make_role_user(roles.STAFF) for _ in range(2)]
    client = Client()
    for n in range(settings.AXES_FAILURE_LIMIT):
        login(client, f"nobody{n}@example.com", "wrong", ip="198.51.100.99")
    response = login(client, victims[0], password, ip="198.51.100.99")
    assert response.status_code == 429
    # the same account from another address is not blocked
    other = Client()
    assert login(other, victims[1], password, ip="198.51.100.100").status_code == 302
    assert signed_in(other)


def test_a_few_typos_do_not_lock_the_owner_out(staff_member, password):
    client = Client()
    for _ in range(3):
        login(client, staff_member, "wrong")
    assert login(client, staff_member, password).status_code == 302
    assert signed_in(client)


def _device(user):
    call_command("add_totp_device", user.email, stdout=open("/dev/null", "w"))  # noqa: SIM115
    return TOTPDevice.objects.get(user=user)


def _code(device) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):0{device.digits}d}"


def test_staff_with_an_authenticator_needs_its_code(staff_member, password):
    device = _device(staff_member)
    client = Client()
    response = login(client, staff_member, password)
    assert response.status_code == 200 and "authenticator" in response.content.decode()
    assert not signed_in(client)
    assert login(client, staff_member, password, otp="000000" if _code(device) != "000000" else "111111").status_code == 200
    assert not signed_in(client)
    time.sleep(1.1)  # a wrong code makes the device wait before the next try (django-otp's throttle)
    assert login(client, staff_member, password, otp=_code(device)).status_code == 302
    assert signed_in(client)


def test_admin_role_needs_a_second_factor_when_required(admin_user, staff_member, password, settings):
    settings.ADMIN_REQUIRE_2FA = True
    client = Client()
    response = login(client, admin_user, password)
    assert response.status_code == 200 and "add_totp_device" in response.content.decode()
    assert not signed_in(client)
    # a session without the second factor (e.g. from before the setting) gets no further either
    forced = Client()
    forced.force_login(admin_user, backend="accounts.backends.EmailBackend")
    assert forced.get(INDEX).status_code == 302
    device = _device(admin_user)
    assert login(client, admin_user, password, otp=_code(device)).status_code == 302
    assert signed_in(client)
    # staff without a device are not asked
    staff_client = Client()
    assert login(staff_client, staff_member, password).status_code == 302
    assert signed_in(staff_client)


def test_authenticators_of_equal_or_higher_accounts_are_out_of_reach(admin_user, make_role_user, password):
    from django.urls import reverse

    from accounts.models import User

    root = User.objects.create_superuser(email="root@example.com", password=password, name="Root")
    peer = make_role_user(roles.ADMIN)
    staff = make_role_user(roles.STAFF)
    devices = {who: _device(who) for who in (root, peer, staff)}
    client = Client()
    client.force_login(admin_user, backend="accounts.backends.EmailBackend")
    listing = client.get(reverse("admin:otp_totp_totpdevice_changelist")).content.decode()
    assert staff.email in listing and peer.email not in listing and root.email not in listing
    for who in (root, peer):
        device = devices[who]
        assert client.post(reverse("admin:otp_totp_totpdevice_delete", args=[device.pk]), {"post": "yes"}).status_code in (302, 403, 404)
        assert TOTPDevice.objects.filter(pk=device.pk).exists()
    # the secret is never shown again, not even for a device the admin may manage
    assert client.get(reverse("admin:otp_totp_totpdevice_config", args=[devices[staff].pk])).status_code == 403
    assert devices[staff].key not in client.get(reverse("admin:otp_totp_totpdevice_change", args=[devices[staff].pk])).content.decode()


def test_behind_the_gateway_the_lockout_counts_the_client_not_the_gateway(make_role_user, password, settings):
    """Every request arrives from the gateway's address with the client's appended to
    X-Forwarded-For (NUM_PROXIES=1): one client's failures lock that client, not everyone; a
    forged X-Forwarded-For entry in front does not move the count elsewhere."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    gateway = "10.0.0.2"
    victim = make_role_user(roles.STAFF)
    attacker = Client()
    for n in range(settings.AXES_FAILURE_LIMIT + 2):
        attacker.post(
            LOGIN, {"username": f"nobody{n}@example.com", "password": "wrong", "next": INDEX},
            REMOTE_ADDR=gateway, HTTP_X_FORWARDED_FOR=f"192.0.2.{n + 1}, 203.0.113.66",
        )
    blocked = attacker.post(
        LOGIN, {"username": victim.email, "password": password, "next": INDEX},
        REMOTE_ADDR=gateway, HTTP_X_FORWARDED_FOR="192.0.2.250, 203.0.113.66",
    )
    assert blocked.status_code == 429
    owner = Client()
    response = owner.post(
        LOGIN, {"username": victim.email, "password": password, "next": INDEX},
        REMOTE_ADDR=gateway, HTTP_X_FORWARDED_FOR="198.51.100.20",
    )
    assert response.status_code == 302
    assert signed_in(owner)
