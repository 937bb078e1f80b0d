"""No credential in any log: a socket's access token rides in its query string (`/ws/?token=`),
so the gateway (nginx, deploy/nginx/deepiri.conf) logs a sanitised URI, and neither daphne's
access log nor Django's own lines carry the query. Proven the way it leaks: a real gateway in
front of real gunicorn and daphne (devtools/topology.py, as `make prod` and the scale-out test),
sockets and requests carrying live tokens, then every log file of the run is searched."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
import uuid

import pytest
import requests
from websockets.asyncio.client import connect

from devtools.testing.daphne import database_url_for
from devtools.topology import Topology, nginx_binary

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture
def gateway(transactional_db, tmp_path):
    yield from _gateway(tmp_path)


@pytest.fixture
def gateway_with_gunicorn_access_log(transactional_db, tmp_path):
    yield from _gateway(tmp_path, GUNICORN_ACCESS_LOG="-")


def _gateway(tmp_path, **extra_env):
    from django.conf import settings
    from django.db import connection

    if not nginx_binary():
        if IN_CI:
            pytest.fail("nginx is not installed (.ci/run installs Debian's nginx)")
        pytest.skip("nginx is not installed")
    if not (settings.REDIS_URL and settings.USING_POSTGRES):
        pytest.skip("needs PostgreSQL and Redis")
    tag = uuid.uuid4().hex[:8]
    base = {k: v for k, v in os.environ.items() if k not in {"TEST_DATABASE_NAME", "SECRET_KEY"}}
    env = {
        **base,
        "DEBUG": "0",
        "DJANGO_SETTINGS_MODULE": "deepiri.settings",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "EMAIL_URL": "log://",  # DEBUG off needs a mail backend (the startup check)
        "SECURE_SSL_REDIRECT": "0",
        "NUM_PROXIES": "1",
        "DATABASE_URL": database_url_for(connection.settings_dict),
        "REDIS_URL": settings.REDIS_URL,
        "REDIS_KEY_PREFIX": f"{settings.REDIS_KEY_PREFIX}-logs-{tag}",
        "LOG_LEVEL": "DEBUG",  # the most a log could say
        "STATIC_ROOT": str(tmp_path / "static"),
        **extra_env,
    }
    topology = Topology(env, run_dir=tmp_path / "run", web=1, ws=1, worker=False, beat=False, web_workers=1)
    try:
        topology.start(timeout=120)
        yield topology
    finally:
        topology.stop()
        connection.close()


def test_socket_tokens_never_reach_a_log(gateway):
    # registered through the gateway: the stack has its own signing key and password hashers
    login = requests.post(
        f"{gateway.url}/api/auth/register",
        json={"name": "Logs", "email": "logs@example.com", "password": "Correct-Horse-42!"},
        timeout=30,
    )
    assert login.status_code == 201, login.text[:300]
    token, refresh = login.json()["data"]["token"], login.json()["data"]["refreshToken"]
    signature = token.rsplit(".", 1)[1]

    async def sockets():
        # the /ws/ socket with its token in the query, as the web client opens it
        ws = await connect(f"{gateway.ws_url}?token={token}", origin=gateway.url, open_timeout=15)
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connected"
        await ws.close()
        # a token placed twice, or under another name, beside other parameters
        url = f"{gateway.ws_url}?a=1&token={token}&access_token={token}&refresh_token={refresh}&b=2"
        ws = await connect(url, origin=gateway.url, open_timeout=15)
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connected"
        await ws.close()
        # Socket.IO's handshake with a stray token parameter
        ws = await connect(
            f"ws://127.0.0.1:{gateway.gateway_port}/socket.io/?EIO=4&transport=websocket&token={token}",
            origin=gateway.url, open_timeout=15,
        )
        await asyncio.wait_for(ws.recv(), 10)
        await ws.close()

    asyncio.run(sockets())
    # plain HTTP with a token in the query (nothing reads it there, but a client may send it)
    requests.get(f"{gateway.url}/api/auth/verify?token={token}&x=1", timeout=10)
    requests.get(f"{gateway.url}/api/health/live?Token={token}", timeout=10)
    requests.get(f"{gateway.url}/api/health/live?token={token}&a=1&token={token}&b=1&x_token={token}&c=1&token={token}", timeout=10)

    logs = gateway.run_dir / "logs"
    deadline = time.monotonic() + 10
    while True:  # nginx writes a line when the request ends; the last socket may still be closing
        access = gateway.access_log.read_text()
        if access.count('"uri":"/ws/') >= 2 and "/socket.io/" in access and "/api/health/live" in access:
            break
        assert time.monotonic() < deadline, access
        time.sleep(0.1)
    leaks = {
        path.name: [secret_name for secret_name, secret in (("token", signature), ("refresh", refresh.rsplit(".", 1)[1]))
                    if secret in path.read_text(errors="replace")]
        for path in sorted(logs.iterdir())
    }
    assert {name: found for name, found in leaks.items() if found} == {}, leaks
    # the gateway still logs what the request was, with the values withheld
    uris = [json.loads(line)["uri"] for line in access.splitlines() if line.strip()]
    assert "/ws/?token=-" in uris
    assert "/ws/?a=1&token=-&access_token=-&refresh_token=-&b=2" in uris
    assert "/socket.io/?EIO=4&transport=websocket&token=-" in uris
    assert "/api/auth/verify?token=-&x=1" in uris
    assert "/api/health/live?Token=-" in uris
    assert "/api/health/live?token=-&a=1&token=-&b=1&x_token=-&c=1&token=-" not in uris  # four: path only
    assert "/api/health/live?-" in uris
    # and daphne logged the sockets (so its log was there to search)
    assert "WSCONNECT /ws/" in (logs / "ws-1.log").read_text()


def test_calendar_feed_tokens_never_reach_a_log(gateway_with_gunicorn_access_log):
    """A calendar feed's URL path is its credential: the gateway, gunicorn's access log (on here)
    and Django's lines log `/cal/-.ics`, for a served feed, a 304, an unknown token and a 429."""
    gateway = gateway_with_gunicorn_access_log
    login = requests.post(
        f"{gateway.url}/api/auth/register",
        json={"name": "Cal", "email": "cal-logs@example.com", "password": "Correct-Horse-42!"},
        timeout=30,
    )
    assert login.status_code == 201, login.text[:300]
    auth = {"Authorization": f"Bearer {login.json()['data']['token']}"}
    feed = requests.post(f"{gateway.url}/api/calendar/feeds", json={"name": "logs"}, headers=auth, timeout=30)
    assert feed.status_code == 201, feed.text[:300]
    url = feed.json()["data"]["url"]
    token = url.rsplit("/", 1)[1].removesuffix(".ics")
    path = f"/cal/{token}.ics"
    served = requests.get(f"{gateway.url}{path}", timeout=10)
    assert served.status_code == 200 and served.headers["Content-Type"].startswith("text/calendar")
    assert requests.get(f"{gateway.url}{path}", headers={"If-None-Match": served.headers["ETag"]},
                        timeout=10).status_code == 304
    assert requests.get(f"{gateway.url}{path}?x=1", timeout=10).status_code in (200, 429)
    unknown = "Z" * 43
    assert requests.get(f"{gateway.url}/cal/{unknown}.ics", timeout=10).status_code == 404
    statuses = {requests.get(f"{gateway.url}{path}", timeout=10).status_code for _ in range(12)}
    assert 429 in statuses  # CALENDAR_FEED_PER_MINUTE (10) per feed

    logs = gateway.run_dir / "logs"
    deadline = time.monotonic() + 10
    while gateway.access_log.read_text().count("/cal/-.ics") < 16:  # every request above
        assert time.monotonic() < deadline, gateway.access_log.read_text()[-3000:]
        time.sleep(0.1)
    leaks = {p.name: [s for s in (token, unknown) if s in p.read_text(errors="replace")] for p in logs.iterdir()}
    assert {name: found for name, found in leaks.items() if found} == {}, leaks
    uris = {json.loads(line)["uri"] for line in gateway.access_log.read_text().splitlines() if line.strip()}
    assert {"/cal/-.ics", "/cal/-.ics?x=1"} <= uris
    web = (logs / "web-1.log").read_text()
    assert "/cal/-.ics" in web  # gunicorn's access log and Django's line were there to search
