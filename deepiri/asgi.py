"""ASGI entry point: `http` to Django, `websocket` to the realtime app (JWT auth, then its routes)."""

import os
from http import HTTPStatus

from django.core.asgi import get_asgi_application

from kernel import config, runtime, tracing

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deepiri.settings")
config.check_or_exit("ws")  # one line and exit 78 on a configuration that cannot work
tracing.setup("web")  # before the middleware is loaded: it adds its own (a no-op when not configured)
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402
from twisted.web import http as twisted_http  # noqa: E402

from deepiri import embedded_beat  # noqa: E402
from realtime.routing import websocket_application  # noqa: E402

# daphne takes the status line's reason phrase from Twisted's table, which lacks the newer codes
# (a 429 would go out as "429 Unknown Status"); add the standard phrases it is missing.
for _status in (422, 428, 429, 431, 451):
    twisted_http.RESPONSES.setdefault(_status, HTTPStatus(_status).phrase.encode())

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # the Origin check against ALLOWED_HOSTS is part of the route itself (realtime/routing.py)
        "websocket": websocket_application(),
    }
)
embedded_beat.start()  # `make run` only (EMBEDDED_BEAT): the periodic jobs in this process
runtime.settle()  # what is loaded now lives as long as the process: keep it out of collections
