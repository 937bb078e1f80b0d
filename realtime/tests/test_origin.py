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


async def handshake(path: str, origin: bytes | None) -> bool:
    from deepiri.asgi import application

    headers = [(b"host", b"api.deepiri.test")] + ([(b"origin", origin)] if origin is not None else [])
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


def test_allowed_hosts_and_cors_origins_pass_everything_else_is_refused(user, settings):
    settings.ALLOWED_HOSTS = ["api.deepiri.test"]
    settings.CORS_ALLOWED_ORIGINS = ["https://app.deepiri.test"]

    async def main():
        token = await sync_to_async(token_for)(user)
        for path in (f"/ws/?token={token}", "/socket.io/?EIO=4&transport=websocket"):
            assert await handshake(path, b"https://api.deepiri.test") is True
            assert await handshake(path, b"http://api.deepiri.test:8080") is True  # a host: any scheme, port
            assert await handshake(path, b"https://app.deepiri.test") is True  # the front end's exact origin
            assert await handshake(path, b"http://app.deepiri.test") is False  # ... not another scheme
            assert await handshake(path, b"https://evil.example") is False
            assert await handshake(path, b"https://api.deepiri.test.evil.example") is False
            assert await handshake(path, b"null") is False
            assert await handshake(path, b"\xff\xfe") is False
            assert await handshake(path, None) is True  # native clients; they must bring a token

    run(main)
