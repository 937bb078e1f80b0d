"""The Origin rule for both socket endpoints (`/ws/`, `/socket.io/`).

- An Origin header that is present must name a host in ALLOWED_HOSTS or be one of
  CORS_ALLOWED_ORIGINS; otherwise the handshake is refused (HTTP 403).
- A handshake without an Origin header is let through, marked `scope["origin_allowed"] =
  False`. Browsers always send Origin on a WebSocket handshake, so a missing one means a
  native client (a mobile app, a bot, a CLI). Such a client must bring its own credential
  (the access token), which no other site can make a browser send: the token is not
  ambient. The cookie ticket is ambient, so the Socket.IO consumer accepts it only when
  `origin_allowed` is True.
"""

from __future__ import annotations

from channels.security.websocket import OriginValidator
from django.conf import settings


def allowed_origins() -> list[str]:
    """The hosts in ALLOWED_HOSTS (any scheme and port, as channels' AllowedHostsOriginValidator;
    in DEBUG with none set, localhost) plus the exact origins in CORS_ALLOWED_ORIGINS: a front
    end we let make credentialed API calls from another origin may open sockets too. Read at
    each handshake, so the settings in force are the ones applied."""
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = ["localhost", "127.0.0.1", "[::1]"]
    return hosts + list(settings.CORS_ALLOWED_ORIGINS)


class OptionalOriginValidator(OriginValidator):
    def __init__(self, application):
        super().__init__(application, [])

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not any(name == b"origin" for name, _ in scope.get("headers", [])):
            return await self.application({**scope, "origin_allowed": False}, receive, send)
        return await super().__call__({**scope, "origin_allowed": True}, receive, send)

    def valid_origin(self, parsed_origin):
        if parsed_origin is None:
            return False
        return self.validate_origin(parsed_origin)

    def validate_origin(self, parsed_origin):
        return any(pattern == "*" or self.match_allowed_origin(parsed_origin, pattern) for pattern in allowed_origins())


def allowed_hosts_origin(application):
    """The Origin rule above around a consumer."""
    return OptionalOriginValidator(application)
