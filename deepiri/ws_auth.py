"""WebSocket authentication: an access JWT in the `token` query parameter."""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.contrib.auth.models import AnonymousUser


@database_sync_to_async
def user_for_token(raw: str):
    from rest_framework_simplejwt.exceptions import TokenError
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.models import User
    from accounts.tokens import password_version

    try:
        token = AccessToken(raw)
    except TokenError:
        return AnonymousUser()
    user = User.objects.filter(pk=token.get("user_id"), is_active=True).first()
    if user is None or token.get("pwv") != password_version(user):
        return AnonymousUser()
    return user


class JWTQueryAuthMiddleware(BaseMiddleware):
    async def __call__(self, scope, receive, send):
        query = parse_qs(scope.get("query_string", b"").decode())
        raw = (query.get("token") or [""])[0]
        scope = dict(scope)
        scope["user"] = await user_for_token(raw) if raw else AnonymousUser()
        return await super().__call__(scope, receive, send)
