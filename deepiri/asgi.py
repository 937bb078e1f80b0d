"""ASGI entry point: `http` to Django, `websocket` to the realtime app (JWT auth, then its routes)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deepiri.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402

from realtime.routing import websocket_application  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # the Origin check against ALLOWED_HOSTS is part of the route itself (realtime/routing.py)
        "websocket": websocket_application(),
    }
)
