"""The Origin rule for both socket endpoints (`/ws/`, `/socket.io/`).

- An Origin header that is present must be the socket's own origin or one of
  CORS_ALLOWED_ORIGINS, compared as (scheme, host, port); otherwise the handshake is refused
  (HTTP 403). The socket's own origin is the scheme the request came in with (the
  SECURE_PROXY_SSL_HEADER rule Django applies to the same request behind the gateway), and the
  Host header's host and port, whose host must be in ALLOWED_HOSTS. Comparing the host name
  alone let a page on another port of the same host (`http://127.0.0.1:1`, any local service
  an attacker can put content on) open a socket with the user's cookie.
- A handshake without an Origin header is let through, marked `scope["origin_allowed"] =
  False`. Browsers always send Origin on a WebSocket handshake, so a missing one means a
  native client (a mobile app, a bot, a CLI). Such a client must bring its own credential
  (the access token), which no other site can make a browser send: the token is not
  ambient. The cookie ticket is ambient, so the Socket.IO consumer accepts it only when
  `origin_allowed` is True.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}


def _allowed_hosts() -> list[str]:
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = ["localhost", "127.0.0.1", "[::1]"]
    return hosts


def parse_origin(value: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an Origin, default port filled in; None for anything else
    (`null`, an opaque or malformed value, a path)."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/") or parts.query:
        return None
    return scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme]


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return None


def own_origin(scope) -> tuple[str, str, int] | None:
    """The origin a page of ours that opened this socket has, or None when the Host is not ours."""
    host = _header(scope, b"host")
    if not host:
        return None
    domain, port = split_domain_port(host.lower())
    if not domain or not validate_host(domain, _allowed_hosts()):
        return None
    scheme = "https" if scope.get("scheme") == "wss" else "http"
    proxy = settings.SECURE_PROXY_SSL_HEADER
    if proxy:
        # The gateway terminates TLS; it names the scheme as it does for every HTTP request.
        forwarded = _header(scope, proxy[0].removeprefix("HTTP_").replace("_", "-").lower().encode())
        if forwarded is not None:
            scheme = "https" if forwarded.split(",")[0].strip() == proxy[1] else "http"
    try:
        number = int(port) if port else DEFAULT_PORTS[scheme]
    except ValueError:
        return None
    return scheme, domain.strip("[]"), number


def origin_allowed(scope, origin: str) -> bool:
    parsed = parse_origin(origin)
    if parsed is None:
        return False
    if parsed == own_origin(scope):
        return True
    return any(parsed == parse_origin(allowed) for allowed in settings.CORS_ALLOWED_ORIGINS)


class OptionalOriginValidator:
    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            return await self.application(scope, receive, send)
        origin = _header(scope, b"origin")
        if origin is None:
            return await self.application({**scope, "origin_allowed": False}, receive, send)
        if origin_allowed(scope, origin):
            return await self.application({**scope, "origin_allowed": True}, receive, send)
        return await WebsocketDenier()(scope, receive, send)


def allowed_hosts_origin(application):
    """The Origin rule above around a consumer."""
    return OptionalOriginValidator(application)
