"""Secrets at rest: Fernet tokens under a MultiFernet built from INTEGRATIONS_ENCRYPTION_KEYS.

The first key encrypts; every key decrypts, so rotation is: put the new key first, keep the old
ones after it, run `manage.py rotate_integration_keys` (re-encrypts every stored secret with the
first key), then drop the old keys. Keys are urlsafe-base64 32-byte Fernet keys
(`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`).

Without configured keys, development and tests derive one from SECRET_KEY; production refuses.
"""

from __future__ import annotations

import base64
import hashlib
import threading

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

_lock = threading.Lock()
_fernet: MultiFernet | None = None


def _keys() -> list[bytes]:
    raw = settings.INTEGRATIONS_ENCRYPTION_KEYS or []
    if isinstance(raw, str):
        raw = [k for k in raw.split(",") if k.strip()]
    keys = [k.strip().encode() if isinstance(k, str) else k for k in raw]
    if not keys:
        if not (settings.DEBUG or settings.TESTING):
            raise ImproperlyConfigured("INTEGRATIONS_ENCRYPTION_KEYS must be set to store provider tokens")
        keys = [base64.urlsafe_b64encode(hashlib.sha256(("integrations:" + settings.SECRET_KEY).encode()).digest())]
    return keys


def fernet() -> MultiFernet:
    global _fernet
    if _fernet is None:
        with _lock:
            if _fernet is None:
                try:
                    _fernet = MultiFernet([Fernet(k) for k in _keys()])
                except (ValueError, TypeError) as exc:
                    raise ImproperlyConfigured(
                        f"INTEGRATIONS_ENCRYPTION_KEYS holds an invalid Fernet key: {exc}"
                    ) from exc
    return _fernet


def _reset(**kwargs) -> None:
    global _fernet
    if kwargs.get("setting") in (None, "INTEGRATIONS_ENCRYPTION_KEYS", "SECRET_KEY"):
        _fernet = None


setting_changed.connect(_reset)


def encrypt(value: str) -> str:
    if not value:
        return ""
    return fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "a stored integration secret cannot be decrypted with INTEGRATIONS_ENCRYPTION_KEYS"
        ) from exc


def rotate(token: str) -> str:
    """Re-encrypt a stored token with the current first key."""
    return fernet().rotate(token.encode()).decode() if token else ""
