"""Secrets at rest: Fernet under a MultiFernet, with key rotation."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from integrations.models import Connection

pytestmark = pytest.mark.django_db


def test_rotation_keeps_old_secrets_readable_then_moves_them_to_the_new_key(settings, user):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.INTEGRATIONS_ENCRYPTION_KEYS = [old]
    conn = Connection(user=user, service="github")
    conn.access_token, conn.refresh_token = "gho_secret", "ghr_secret"
    conn.save()
    stored = Connection.objects.get(pk=conn.pk)
    assert "gho_secret" not in stored.access_token_enc
    assert Fernet(old.encode()).decrypt(stored.access_token_enc.encode()) == b"gho_secret"

    settings.INTEGRATIONS_ENCRYPTION_KEYS = [new, old]  # new key first: both decrypt
    assert Connection.objects.get(pk=conn.pk).access_token == "gho_secret"
    call_command("rotate_integration_keys", stdout=open("/dev/null", "w"))  # noqa: SIM115
    settings.INTEGRATIONS_ENCRYPTION_KEYS = [new]  # the old key is gone
    rotated = Connection.objects.get(pk=conn.pk)
    assert rotated.access_token == "gho_secret" and rotated.refresh_token == "ghr_secret"

    settings.INTEGRATIONS_ENCRYPTION_KEYS = [old]
    with pytest.raises(ImproperlyConfigured):
        _ = Connection.objects.get(pk=conn.pk).access_token


def test_production_refuses_to_run_without_keys(settings):
    from integrations import crypto

    settings.INTEGRATIONS_ENCRYPTION_KEYS = []
    settings.DEBUG, settings.TESTING = False, False
    with pytest.raises(ImproperlyConfigured):
        crypto.encrypt("x")
    settings.TESTING = True
    settings.INTEGRATIONS_ENCRYPTION_KEYS = ["not-a-fernet-key"]
    with pytest.raises(ImproperlyConfigured):
        crypto.encrypt("x")
