"""The socket ticket: a browser's credential for `/socket.io/` without a token in script.

The existing web client opens its notification socket with only `auth: {userId}`; a user id
from the client proves nothing. So login, register, refresh (and the social/Firebase logins,
which answer through the same helper) also set this cookie:

- HttpOnly (script cannot read it), SameSite=Strict, Secure where the refresh cookie is, and
  scoped to path `/socket.io/`, so it goes nowhere but the socket handshake;
- a value signed with the secret key (django.core.signing, its own salt) naming the user, the
  password version and the refresh token it was issued with;
- short-lived (SOCKET_TICKET_SECONDS, by default the access token's lifetime) and rotated with
  the tokens: refreshing blacklists the old refresh token, and a ticket whose refresh token is
  blacklisted (refresh, logout, password reset) no longer authenticates, even if a copy
  survives the cookie being cleared on logout.

A cookie is ambient authority (the browser attaches it to any page's request to our host), so
the socket that accepts it also requires an allowed Origin (cross-site WebSocket hijacking).
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import User
from accounts.tokens import PASSWORD_VERSION_CLAIM, password_version, token_is_current

COOKIE_NAME = "socket_ticket"
COOKIE_PATH = "/socket.io/"
_SALT = "deepiri.accounts.socket-ticket"


def lifetime_seconds() -> int:
    configured = settings.SOCKET_TICKET_SECONDS
    if configured:
        return int(configured)
    return int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds())


def issue(user, raw_refresh: str) -> str:
    try:
        jti = RefreshToken(raw_refresh, verify=False)["jti"]
    except (TokenError, KeyError):
        jti = ""
    return signing.dumps(
        {"u": str(user.pk), PASSWORD_VERSION_CLAIM: password_version(user), "j": jti}, salt=_SALT, compress=False
    )


def user_for_ticket(raw: str | None):
    """The active user the ticket was issued to, or None (bad signature, expired, rotated out,
    logged out, password changed, account deactivated)."""
    if not raw or len(raw) > 1000:
        return None
    try:
        claims = signing.loads(raw, salt=_SALT, max_age=lifetime_seconds())
    except signing.BadSignature:  # SignatureExpired is one too
        return None
    if not isinstance(claims, dict) or not claims.get("j"):
        return None
    user = User.objects.filter(pk=claims.get("u"), is_active=True).first()
    if not token_is_current(claims, user):
        return None
    if BlacklistedToken.objects.filter(token__jti=claims["j"]).exists():
        return None
    return user


def set_cookie(response, user, raw_refresh: str) -> None:
    response.set_cookie(
        COOKIE_NAME,
        issue(user, raw_refresh),
        max_age=lifetime_seconds(),
        httponly=True,
        secure=settings.REFRESH_COOKIE_SECURE,
        samesite="Strict",
        path=COOKIE_PATH,
    )


def clear_cookie(response) -> None:
    response.delete_cookie(COOKIE_NAME, path=COOKIE_PATH, samesite="Strict")
