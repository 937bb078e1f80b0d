"""ASGI entry point: `http` to Django, `websocket` through JWT authentication to the URL router."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deepiri.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from deepiri.routing import websocket_urlpatterns  # noqa: E402
from deepiri.ws_auth import JWTQueryAuthMiddleware  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(JWTQueryAuthMiddleware(URLRouter(websocket_urlpatterns))),
    }
)
