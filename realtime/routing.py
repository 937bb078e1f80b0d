"""WebSocket routes. `deepiri.asgi` mounts `websocket_application()`.

One endpoint, `/ws/`, for everything (API.md). The Origin header is checked against
ALLOWED_HOSTS here, so the check holds however the ASGI application is assembled.
"""

from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import re_path

from .auth import JWTQueryAuthMiddleware
from .consumers import RealtimeConsumer

websocket_urlpatterns = [
    re_path(r"^ws/?$", AllowedHostsOriginValidator(RealtimeConsumer.as_asgi())),
]


def websocket_application():
    """The `websocket` half of the ASGI application: JWT authentication, then the routes."""
    return JWTQueryAuthMiddleware(URLRouter(websocket_urlpatterns))
