"""WebSocket authentication: an access JWT in the `token` query parameter.

The middleware resolves `scope["user"]` for the ASGI stack; the consumer then calls
`authenticate`, which also reads the token's expiry (a socket closes with 4401 once it passed).
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.contrib.auth.models import AnonymousUser
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from accounts.auth_cache import user_for_access_token, user_for_validated_token
from accounts.tokens import is_revoked, token_is_current, user_id_of

logger = logging.getLogger(__name__)


@database_sync_to_async
def user_for_token(raw: str):
    return user_for_access_token(raw) or AnonymousUser()


class JWTQueryAuthMiddleware(BaseMiddleware):
    async def __call__(self, scope, receive, send):
        query = parse_qs(scope.get("query_string", b"").decode())
        raw = (query.get("token") or [""])[0]
        scope = dict(scope)
        scope["user"] = await user_for_token(raw) if raw else AnonymousUser()
        return await super().__call__(scope, receive, send)


@database_sync_to_async
def authenticate(raw_token: str | None, scope_user=None):
    """Returns (user, expiry epoch) or (None, None). `scope_user` is the user that
    JWTQueryAuthMiddleware already resolved from the same token (saves the user lookup); others
    come from the auth cache, as on HTTP."""
    if not raw_token:
        return None, None

    try:
        token = AccessToken(raw_token)
    except TokenError:
        return None, None
    if getattr(scope_user, "is_authenticated", False) and str(scope_user.pk) == str(user_id_of(token)):
        # Resolved from this very token a moment ago: only a change since needs checking.
        user = scope_user if token_is_current(token, scope_user) and not is_revoked(token) else None
    else:
        user = user_for_validated_token(token)
    return (user, token.get("exp")) if user is not None else (None, None)
