"""`manage.py axes_reset` (django-axes' documented way to lift lockouts) with the cache handler."""

# ruff: noqa: F811  (fixtures are imported from devtools.testing and named as parameters)
from __future__ import annotations

import io

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client

from devtools.testing.admin import make_role_user, staff_member  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.django_db, pytest.mark.services]


def login(client, user, password, ip):
    return client.post(
        "/admin/login/", {"username": user.email, "password": password, "next": "/admin/"}, REMOTE_ADDR=ip
    )


def test_axes_reset_lifts_every_lockout_from_the_cache(staff_member, password):
    assert settings.AXES_HANDLER == "accounts.axes_handler.AxesCacheHandler"
    for n in range(settings.AXES_FAILURE_LIMIT):
        login(Client(), staff_member, "wrong", ip=f"203.0.113.{n + 1}")
    assert login(Client(), staff_member, password, ip="192.0.2.1").status_code == 429

    out = io.StringIO()
    call_command("axes_reset", stdout=out)
    assert "attempts removed" in out.getvalue()
    assert login(Client(), staff_member, password, ip="192.0.2.1").status_code == 302  # signed in

    out = io.StringIO()
    call_command("axes_reset", stdout=out)  # nothing left: safe to run again
    assert "No attempts found" in out.getvalue()


def test_axes_reset_by_username_or_ip(staff_member, password):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(Client(), staff_member, "wrong", ip="198.51.100.9")
    call_command("axes_reset_ip_username", "198.51.100.9", staff_member.email, stdout=io.StringIO())
    assert login(Client(), staff_member, password, ip="198.51.100.9").status_code == 302
