"""Optional Firebase sign-in: verify a Firebase ID token's signature against the configured key set.

On when FIREBASE_PROJECT_ID is set. The key set (JWKS) is fetched from FIREBASE_JWKS_URL with a
timeout and cached by PyJWT's client; the tests serve a local key set on 127.0.0.1.
"""

from __future__ import annotations

import time

import jwt
from django.conf import settings
from rest_framework import exceptions

from kernel.api.errors import ErrorCode

_clients: dict[str, jwt.PyJWKClient] = {}


def _client() -> jwt.PyJWKClient:
    url = settings.FIREBASE_JWKS_URL
    if url not in _clients:
        _clients[url] = jwt.PyJWKClient(url, cache_keys=True, lifespan=3600, timeout=5)
    return _clients[url]


def verify_id_token(id_token: str) -> dict:
    project = settings.FIREBASE_PROJECT_ID
    if not project:
        raise exceptions.NotFound("Firebase sign-in is not enabled.")
    try:
        signing_key = _client().get_signing_key_from_jwt(id_token)
    except jwt.PyJWKClientConnectionError as exc:
        raise exceptions.APIException("Firebase key set unavailable.", code=ErrorCode.SERVICE_UNAVAILABLE) from exc
    except jwt.PyJWTError as exc:
        raise exceptions.AuthenticationFailed("Invalid Firebase ID token.") from exc
    try:
        claims = jwt.decode(
            id_token,
            signing_key.key,
            algorithms=["RS256"],
            audience=project,
            issuer=f"https://securetoken.google.com/{project}",
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            leeway=30,
        )
    except jwt.PyJWTError as exc:
        raise exceptions.AuthenticationFailed(f"Invalid Firebase ID token: {exc}") from exc
    if not claims.get("sub") or claims.get("auth_time", 0) > time.time() + 30:
        raise exceptions.AuthenticationFailed("Invalid Firebase ID token.")
    if not claims.get("email") or not claims.get("email_verified"):
        raise exceptions.AuthenticationFailed("The Firebase account has no verified email.")
    return claims
