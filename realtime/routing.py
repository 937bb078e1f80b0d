"""WebSocket routes. `deepiri.asgi` mounts `websocket_application()`.

- `/ws/`: the one endpoint of our own protocol (API.md "WebSocket").
- `/socket.io/`: the same sockets in Socket.IO v5 for the existing web client (realtime/socketio.py).

The Origin rule is part of each route (realtime/origin.py), so it holds however the ASGI
application is assembled: a present Origin must be an allowed host (else HTTP 403 at the
handshake); a missing one is let through, because such a client (native app, bot, CLI) must
then authenticate with a token it holds itself — the cookie ticket is refused without an
allowed Origin.
"""

from channels.routing import URLRouter
from django.urls import re_path

from .auth import JWTQueryAuthMiddleware
from .consumers import RealtimeConsumer
from .origin import allowed_hosts_origin
from .socketio import SocketIOConsumer

websocket_urlpatterns = [
    re_path(r"^ws/?$", allowed_hosts_origin(RealtimeConsumer.as_asgi())),
    re_path(r"^socket\.io/?$", allowed_hosts_origin(SocketIOConsumer.as_asgi())),
]


def websocket_application():
    """The `websocket` half of the ASGI application: JWT authentication, then the routes."""
    return JWTQueryAuthMiddleware(URLRouter(websocket_urlpatterns))
