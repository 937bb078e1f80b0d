"""JWT pairs (simplejwt) bound to the user's current password.

Every token carries `pwv`, a short digest of the password hash: a password reset or change
makes all earlier access tokens invalid at once (refresh tokens are also blacklisted).
"""

from __future__ import annotations

import hashlib

from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken


def password_version(user) -> str:
    return hashlib.sha256((user.password or "").encode()).hexdigest()[:12]


def issue_pair(user) -> dict:
    refresh = RefreshToken.for_user(user)
    refresh["pwv"] = password_version(user)
    access = refresh.access_token
    return {"token": str(access), "refresh_token": str(refresh)}


def blacklist(raw_refresh: str) -> None:
    try:
        RefreshToken(raw_refresh).blacklist()
    except TokenError:
        pass


def revoke_all(user) -> int:
    """Blacklist every outstanding refresh token of a user."""
    outstanding = OutstandingToken.objects.filter(user=user).exclude(blacklistedtoken__isnull=False)
    tokens = list(outstanding)
    BlacklistedToken.objects.bulk_create([BlacklistedToken(token=t) for t in tokens], ignore_conflicts=True)
    return len(tokens)
