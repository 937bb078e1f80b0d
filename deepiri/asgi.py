"""ASGI entry point: `http` to Django, `websocket` through JWT authentication to the URL router."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deepiri.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from deepiri.routing import websocket_urlpatterns  # noqa: E402
from deepiri.ws_auth import JWTQueryAuthMiddleware  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # the Origin check against ALLOWED_HOSTS is part of the route itself (deepiri/routing.py)
        "websocket": JWTQueryAuthMiddleware(URLRouter(websocket_urlpatterns)),
    }
)
