"""The Origin rule of both socket endpoints, in-process (realtime/origin.py)."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

pytestmark = pytest.mark.django_db(transaction=True)


def token_for(user) -> str:
    from accounts.tokens import issue_pair

    return issue_pair(user)["token"]


async def handshake(path: str, origin: bytes | None, *, host: bytes = b"api.deepiri.test", proto: bytes | None = None) -> bool:
    from deepiri.asgi import application

    headers = [(b"host", host)] + ([(b"origin", origin)] if origin is not None else [])
    if proto is not None:
        headers.append((b"x-forwarded-proto", proto))
    comm = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await comm.connect(timeout=5)
    await comm.disconnect()
    return connected


def run(coro_fn):
    from django.db import connections

    async def main():
        try:
            await asyncio.wait_for(coro_fn(), 30)
        finally:
            await sync_to_async(connections.close_all)()

    asyncio.run(main())


def test_own_origin_and_cors_origins_pass_everything_else_is_refused(user, settings):
    settings.ALLOWED_HOSTS = ["api.deepiri.test"]
    settings.CORS_ALLOWED_ORIGINS = ["https://app.deepiri.test"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

    async def main():
        token = await sync_to_async(token_for)(user)
        for path in (f"/ws/?token={token}", "/socket.io/?EIO=4&transport=websocket"):
            # the gateway says the page came over https: the own origin is https://api.deepiri.test
            https = {"proto": b"https"}
            assert await handshake(path, b"https://api.deepiri.test", **https) is True
            assert await handshake(path, b"https://api.deepiri.test:443", **https) is True  # default port
            assert await handshake(path, b"http://api.deepiri.test", **https) is False  # another scheme
            assert await handshake(path, b"https://api.deepiri.test:8443", **https) is False  # another port
            assert await handshake(path, b"http://api.deepiri.test:8080", **https) is False
            # plain http on a port: exactly that scheme, host and port
            on_port = {"host": b"api.deepiri.test:8000", "proto": b"http"}
            assert await handshake(path, b"http://api.deepiri.test:8000", **on_port) is True
            assert await handshake(path, b"http://api.deepiri.test:1", **on_port) is False
            assert await handshake(path, b"http://api.deepiri.test", **on_port) is False
            assert await handshake(path, b"https://api.deepiri.test:8000", **on_port) is False
            # a Host that is not ours makes no origin our own
            assert await handshake(path, b"http://evil.example", host=b"evil.example") is False
            assert await handshake(path, b"https://app.deepiri.test") is True  # the front end's exact origin
            assert await handshake(path, b"https://app.deepiri.test:443") is True
            assert await handshake(path, b"http://app.deepiri.test") is False  # ... not another scheme
            assert await handshake(path, b"https://app.deepiri.test:4443") is False  # ... nor another port
            assert await handshake(path, b"https://evil.example") is False
            assert await handshake(path, b"https://api.deepiri.test.evil.example", **https) is False
            assert await handshake(path, b"null") is False
            assert await handshake(path, b"\xff\xfe") is False
            assert await handshake(path, b"https://api.deepiri.test/path", **https) is False
            assert await handshake(path, None) is True  # native clients; they must bring a token

    run(main)
