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

logger = logging.getLogger(__name__)


@database_sync_to_async
def user_for_token(raw: str):
    from accounts.tokens import user_for_access_token

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
    JWTQueryAuthMiddleware already resolved from the same token (saves a query)."""
    if not raw_token:
        return None, None
    from django.contrib.auth import get_user_model
    from rest_framework_simplejwt.exceptions import TokenError
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.tokens import is_revoked, token_is_current, user_id_of

    try:
        token = AccessToken(raw_token)
    except TokenError:
        return None, None
    user_id = user_id_of(token)
    if not user_id:
        return None, None
    if getattr(scope_user, "is_authenticated", False) and str(scope_user.pk) == str(user_id):
        user = scope_user
    else:
        user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if not token_is_current(token, user) or is_revoked(token):
        return None, None
    return user, token.get("exp")
