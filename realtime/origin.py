"""The Origin rule for both socket endpoints (`/ws/`, `/socket.io/`).

- An Origin header that is present must name a host in ALLOWED_HOSTS; otherwise the
  handshake is refused (HTTP 403), as channels' AllowedHostsOriginValidator does.
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


class OptionalOriginValidator(OriginValidator):
    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not any(name == b"origin" for name, _ in scope.get("headers", [])):
            return await self.application({**scope, "origin_allowed": False}, receive, send)
        return await super().__call__({**scope, "origin_allowed": True}, receive, send)

    def valid_origin(self, parsed_origin):
        if parsed_origin is None:
            return False
        return self.validate_origin(parsed_origin)


def allowed_hosts_origin(application):
    """Like channels' AllowedHostsOriginValidator (same hosts, same DEBUG default), with a
    missing Origin let through as described above."""
    allowed_hosts = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = ["localhost", "127.0.0.1", "[::1]"]
    return OptionalOriginValidator(application, allowed_hosts)
