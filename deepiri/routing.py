"""WebSocket routes (owned by the real-time app). `deepiri.asgi` mounts `websocket_urlpatterns`.

One endpoint, `/ws/`, for everything (API.md). The Origin header is checked against
ALLOWED_HOSTS here, so the check holds however the ASGI application is assembled.
"""

from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import re_path

from notifications.consumers import RealtimeConsumer

websocket_urlpatterns = [
    re_path(r"^ws/?$", AllowedHostsOriginValidator(RealtimeConsumer.as_asgi())),
]
