"""Scale-out through the gateway: nginx in front of TWO gunicorn and TWO daphne processes, a
Celery worker and beat, DEBUG=0 production settings, on PostgreSQL, Redis and a MongoDB wire
server (nx-27017). Every request and socket goes through the gateway; the processes share
nothing but the backing services, so any of them can die.

The stack runs devtools/topology.py, the same code as `make prod`, with the gateway configuration
rendered from deploy/nginx/deepiri.conf, the file the compose gateway uses.
"""

from __future__ import annotations

import asyncio
import gzip
import http.client
import json
import os
import re
import secrets
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import pytest
import requests
import socketio
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from devtools.testing.daphne import database_url_for
from devtools.testing.mongo import NxServer
from devtools.topology import Topology, nginx_binary

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PASSWORD = "Correct-Horse-42!"
LOGIN_IP_LIMIT = 20


@pytest.fixture
def stack(transactional_db, tmp_path):
    from django.conf import settings
    from django.db import connection

    if not nginx_binary():
        if IN_CI:
            pytest.fail("nginx is not installed (.ci/run installs Debian's nginx)")
        pytest.skip("nginx is not installed")
    if not (settings.REDIS_URL and settings.USING_POSTGRES):
        pytest.skip("needs PostgreSQL and Redis")
    tag = uuid.uuid4().hex[:8]
    with NxServer(tmp_path / "nx") as mongo_uri:
        base = {k: v for k, v in os.environ.items() if k not in {"TEST_DATABASE_NAME", "SECRET_KEY"}}
        env = {
            **base,
            "DEBUG": "0",
            "DJANGO_SETTINGS_MODULE": "deepiri.settings",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "NUM_PROXIES": "1",
            "DATABASE_URL": database_url_for(connection.settings_dict),
            "REDIS_URL": settings.REDIS_URL,
            "REDIS_KEY_PREFIX": f"{settings.REDIS_KEY_PREFIX}-topo-{tag}",
            "CELERY_QUEUE": f"topo-{tag}",
            "MONGODB_URI": mongo_uri,
            "MONGODB_DB": f"topo_{tag}",
            "THROTTLE_LOGIN_IP": f"{LOGIN_IP_LIMIT}/min",
            # beat hands a job to the worker every second, so the test sees the chain work
            "INTEGRATIONS_BEAT_SECONDS": "1",
            "LOG_LEVEL": "INFO",
            "STATIC_ROOT": str(tmp_path / "static"),
            # production settings refuse to start with the console mail backend (kernel/config.py)
            "EMAIL_URL": "log://",
        }
        started = time.monotonic()
        subprocess.run(  # what the image and make prod do before serving
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
            cwd=settings.BASE_DIR, env=env, check=True, timeout=300,
        )
        topology = Topology(env, run_dir=tmp_path / "run", web=2, ws=2, web_workers=1, worker_concurrency=1)
        try:
            topology.start(timeout=120)
            topology.startup_seconds = time.monotonic() - started
            yield topology
        finally:
            topology.stop()
            connection.close()


# ---------------------------------------------------------------------- wire helpers
class Api:
    """requests through the gateway, the way a client sees it."""

    def __init__(self, base: str):
        self.base = base
        self.http = requests.Session()
        self.token = ""

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        return self.http.request(method, self.base + path, headers=headers, timeout=30, **kwargs)

    def ok(self, method: str, path: str, expect: tuple = (200, 201), **kwargs) -> dict:
        response = self.call(method, path, **kwargs)
        assert response.status_code in expect, (method, path, response.status_code, response.text[:500])
        return response.json()


class Socket:
    def __init__(self, ws, daphne: str):
        self.ws, self.daphne = ws, daphne
        self.buffer: list[dict] = []
        self.last_id = 0

    async def next(self, type_: str, timeout: float = 15.0, where=lambda e: True) -> dict:
        for i, event in enumerate(self.buffer):
            if event["type"] == type_ and where(event):
                return self.buffer.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {type_} within {timeout}s on {self.daphne}; got {self.buffer}")
            event = json.loads(await asyncio.wait_for(self.ws.recv(), remaining))
            self.last_id = max(self.last_id, event.get("id") or 0)
            if event["type"] == type_ and where(event):
                return event
            self.buffer.append(event)

    async def notification(self, kind: str, timeout: float = 20.0) -> dict:
        event = await self.next("notification", timeout, lambda e: e["notification"]["type"] == kind)
        return event["notification"]

    async def join(self, room: str) -> None:
        await self.ws.send(json.dumps({"type": "join-room", "room": room}))
        await self.next("room-joined", where=lambda e: e.get("room") == room)


def _wsconnects(topology: Topology) -> dict[str, int]:
    return {p.name: p.log(10_000_000).count("WSCONNECT /ws/") for p in topology.ws}


async def open_socket(topology: Topology, token: str, avoid: str | None = None) -> Socket:
    """A socket through the gateway; `daphne` names the instance nginx chose (from the daphne
    access logs). With `avoid`, reconnects until it lands on another instance (round robin
    makes that the next one)."""
    for _ in range(4):
        before = _wsconnects(topology)
        ws = await connect(f"{topology.ws_url}?token={token}", origin=topology.url, open_timeout=15)
        sock = Socket(ws, "?")
        await sock.next("connected")
        deadline = time.monotonic() + 5
        while (landed := [n for n, c in _wsconnects(topology).items() if c > before.get(n, 0)]) == []:
            assert time.monotonic() < deadline, "no daphne logged the connection"
            await asyncio.sleep(0.05)
        sock.daphne = landed[0]
        if sock.daphne != avoid:
            return sock
        await ws.close()
    raise AssertionError(f"every socket landed on {avoid}")


async def closed(sock: Socket, timeout: float = 10) -> bool:
    """Read until the connection breaks (events still in flight come first)."""
    try:
        while True:
            await asyncio.wait_for(sock.ws.recv(), timeout)
    except ConnectionClosed:
        return True


def login_from(source: str, port: int, email: str, forged: str | None = None) -> int:
    """A wrong-password login sent from the local address `source`; its status."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    headers = {"Content-Type": "application/json", **({"X-Forwarded-For": forged} if forged else {})}
    try:
        conn.request("POST", "/api/auth/login", json.dumps({"email": email, "password": "wrong-password"}), headers)
        return conn.getresponse().status
    finally:
        conn.close()


def _json_lines(path: Path) -> list[dict]:
    lines = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                pass
    return lines


# ---------------------------------------------------------------------- the test
def test_two_of_each_behind_the_gateway_and_any_one_may_die(stack):
    topology = stack
    timings = {"startup": round(topology.startup_seconds, 1)}
    t0 = time.monotonic()
    anon = Api(topology.url)

    # -- static files from the web process, hashed names cached for long; the admin's CSS loads
    plain = anon.call("GET", "/static/admin/css/base.css")
    assert plain.status_code == 200 and plain.headers["Content-Type"].startswith("text/css")
    login_page = anon.call("GET", "/admin/login/")
    assert login_page.status_code == 200
    css = re.findall(r'href="(/static/admin/css/[^"]+\.css)"', login_page.text)
    assert css and all(re.search(r"\.[0-9a-f]{12}\.css$", href) for href in css), css
    for href in css:
        asset = anon.call("GET", href, headers={"Accept-Encoding": "gzip"})
        assert asset.status_code == 200 and asset.headers["Content-Type"].startswith("text/css"), href
        assert "immutable" in asset.headers["Cache-Control"] and "max-age=315360000" in asset.headers["Cache-Control"]
    assert anon.call("GET", "/metrics").status_code == 404  # not through the public origin
    # the fixed scrape address: every gunicorn worker of both web processes, still closed to anonymous users
    assert requests.get(topology.metrics_url, timeout=10).status_code in (401, 403)
    assert requests.get(topology.metrics_url.replace("/metrics", "/api/health"), timeout=10).status_code == 404
    from accounts.models import ScopedAPIKey

    _, metrics_key = ScopedAPIKey.objects.create_key(name="prometheus", scope="metrics")
    scrapes = [requests.get(topology.metrics_url, headers={"Authorization": f"Api-Key {metrics_key}"}, timeout=10)
               for _ in range(4)]
    assert [r.status_code for r in scrapes] == [200] * 4, scrapes[0].text[:300]
    starts = {re.search(r"^process_start_time_seconds (\S+)$", r.text, re.M).group(1) for r in scrapes}
    assert len(starts) == 1, starts  # one aggregate, whichever process answers
    # readiness through the gateway names this start's instance
    ready = anon.call("GET", "/api/health/ready")
    assert ready.status_code == 200 and ready.headers["Deepiri-Instance"] == topology.instance
    # a body above MAX_BODY_BYTES is refused by the gateway itself, in the API's envelope
    too_large = anon.call("POST", "/api/auth/login", data=b"x" * (1024 * 1024 + 1), headers={"Content-Type": "application/json"})
    assert too_large.status_code == 413, too_large.text[:200]
    assert too_large.json()["code"] == "too_large" and too_large.json()["requestId"] == too_large.headers["X-Request-ID"]

    # -- register and sign in, on whichever gunicorn nginx picks
    users = {}
    for name in ("ada", "bob"):
        email = f"{name}-{uuid.uuid4().hex[:6]}@example.com"
        anon.ok("POST", "/api/auth/register", json={"name": name.title(), "email": email, "password": PASSWORD})
        api = Api(topology.url)
        data = api.ok("POST", "/api/auth/login", json={"email": email, "password": PASSWORD})["data"]
        api.token = data["token"]
        users[name] = (api, data["user"]["_id"])
    (ada, ada_id), (bob, bob_id) = users["ada"], users["bob"]
    timings["static+register+login"] = round(time.monotonic() - t0, 1)

    # -- the request id: the client's when sane, else the gateway's; in the response header and in
    # the JSON log lines of nginx and of Django
    mine = f"topo-{uuid.uuid4().hex}"
    response = ada.call("GET", "/api/users/profile", headers={"X-Request-ID": mine})
    assert response.status_code == 200 and response.headers["X-Request-ID"] == mine
    generated = ada.call("GET", "/api/users/profile", headers={"X-Request-ID": "bad id\twith spaces"})
    gateway_id = generated.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", gateway_id), gateway_id

    async def scenario():
        # -- two sockets, one on each daphne
        sa = await open_socket(topology, ada.token)
        sb = await open_socket(topology, bob.token, avoid=sa.daphne)
        assert {sa.daphne, sb.daphne} == {"ws-1", "ws-2"}
        for sock in (sa, sb):
            await sock.join("leaderboard:all")
        # -- the web client's Socket.IO socket, by the cookie ticket its login set, same origin
        sio_notes: asyncio.Queue = asyncio.Queue()
        sio_http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        sio = socketio.AsyncClient(reconnection=False, http_session=sio_http)
        sio.on("notification", sio_notes.put)
        await sio.connect(
            topology.url,
            transports=["websocket"],
            auth={"userId": ada_id},
            headers={"Cookie": f"socket_ticket={ada.http.cookies['socket_ticket']}", "Origin": topology.url},
            wait_timeout=15,
        )

        # -- tasks created and completed through REST: each socket hears its own notification and
        # both hear the leaderboard
        for api, user_id, sock in ((ada, ada_id, sa), (bob, bob_id, sb)):
            task = (await asyncio.to_thread(api.ok, "POST", "/api/tasks", json={"title": "Ship it", "estimatedDuration": 30}))["data"]
            done = await asyncio.to_thread(api.ok, "POST", f"/api/tasks/{task['_id']}/complete", json={"actualDuration": 20})
            points = done["data"]["effects"]["pointsAwarded"]
            assert points > 0
            badge = await sock.notification("badge_earned")
            assert badge["title"] == "Badge earned: First Steps"
            for watcher in (sa, sb):
                await watcher.next(
                    "leaderboard-update",
                    where=lambda e, uid=user_id: any(c["userId"] == uid for c in e["changed"]),
                )
        sio_badge = await asyncio.wait_for(sio_notes.get(), 20)
        while sio_badge["notification"]["type"] != "badge_earned":
            sio_badge = await asyncio.wait_for(sio_notes.get(), 20)
        assert sio_badge["type"] == "badge_earned" and sio_badge["notification"]["title"] == "Badge earned: First Steps"
        await sio.disconnect()
        await sio_http.close()
        t1 = time.monotonic()

        # -- the Celery worker: a generated challenge reaches the socket
        task = (await asyncio.to_thread(ada.ok, "POST", "/api/tasks", json={"title": "Read the paper", "estimatedDuration": 45}))["data"]
        generated = await asyncio.to_thread(ada.ok, "POST", "/api/challenges/generate", expect=(201, 202), json={"taskId": task["_id"]})
        await sa.notification("challenge_generated", timeout=60)
        timings["worker challenge"] = round(time.monotonic() - t1, 1)

        # -- kill ada's daphne: bob's socket (on the other one) stays; ada's drops
        victim = next(p for p in topology.ws if p.name == sa.daphne)
        survivor = sb.daphne
        last_seen = sa.last_id
        victim.kill()
        t2 = time.monotonic()
        assert await closed(sa)
        await sb.ws.send(json.dumps({"type": "ping"}))
        await sb.next("pong")

        # while ada is away a notification is made (by the worker) and nobody hears it live
        task2 = (await asyncio.to_thread(ada.ok, "POST", "/api/tasks", json={"title": "Write notes", "estimatedDuration": 20}))["data"]
        await asyncio.to_thread(ada.ok, "POST", "/api/challenges/generate", expect=(201, 202), json={"taskId": task2["_id"]})
        deadline = time.monotonic() + 60
        while True:
            pending = await asyncio.to_thread(ada.ok, "GET", f"/api/notifications?since={last_seen}")
            kinds = [n["type"] for n in pending["data"]]
            if "challenge_generated" in kinds:
                break
            assert time.monotonic() < deadline, kinds
            await asyncio.sleep(0.5)

        # she reconnects through the same gateway address and lands on the survivor
        sa2 = await open_socket(topology, ada.token)
        assert sa2.daphne == survivor
        caught_up = (await asyncio.to_thread(ada.ok, "GET", f"/api/notifications?since={last_seen}"))["data"]
        titles = [n["title"] for n in caught_up]
        # the 202 answered with a placeholder title; the notice names the generated challenge
        assert any(task2["title"] in title for title in titles), titles
        assert all(n["eventId"] is None or n["eventId"] > last_seen for n in caught_up)
        # and live events reach her on the survivor again
        await sa2.join("leaderboard:all")
        task3 = (await asyncio.to_thread(bob.ok, "POST", "/api/tasks", json={"title": "One more", "estimatedDuration": 10}))["data"]
        await asyncio.to_thread(bob.ok, "POST", f"/api/tasks/{task3['_id']}/complete", json={})
        for watcher in (sa2, sb):
            await watcher.next("leaderboard-update", where=lambda e: any(c["userId"] == bob_id for c in e["changed"]))
        timings["daphne failover"] = round(time.monotonic() - t2, 1)
        await sa2.ws.close()
        await sb.ws.close()
        return generated

    asyncio.run(asyncio.wait_for(scenario(), 240))

    # -- a large JSON list arrives gzip-encoded (compressed by the gateway)
    t3 = time.monotonic()
    for i in range(40):
        ada.ok("POST", "/api/tasks", json={"title": f"Bulk task {i}", "description": "x" * 200, "estimatedDuration": 5})
    listing = ada.call("GET", "/api/tasks?limit=100", headers={"Accept-Encoding": "gzip"}, stream=True)
    raw = listing.raw.read(decode_content=False)
    assert listing.status_code == 200 and listing.headers.get("Content-Encoding") == "gzip"
    body = json.loads(gzip.decompress(raw))
    assert len(body["data"]) >= 40 and len(raw) * 3 < len(gzip.decompress(raw))

    # -- the throttles see the client's own address (one trusted proxy), never a forged
    # X-Forwarded-For: a client on 127.0.0.2 exhausts the per-IP login limit while forging a new
    # address each time; a client on 127.0.0.1 is not affected by that
    statuses = [
        login_from("127.0.0.2", topology.gateway_port, f"nobody{i}@example.com", forged=f"10.9.{i}.1")
        for i in range(LOGIN_IP_LIMIT + 1)
    ]
    assert 429 in statuses and set(statuses) <= {401, 429}, statuses
    assert login_from("127.0.0.1", topology.gateway_port, "nobody@example.com") == 401
    assert '"remote_addr":"127.0.0.2"' in topology.access_log.read_text()

    # -- kill one gunicorn: requests keep succeeding through the gateway
    victim = topology.web[0]
    victim.kill()
    for i in range(12):
        ada.ok("GET", "/api/users/profile")
        ada.ok("POST", "/api/tasks", json={"title": f"After the crash {i}", "estimatedDuration": 5})
    timings["gzip+throttle+gunicorn failover"] = round(time.monotonic() - t3, 1)

    # -- beat hands jobs to the worker
    beat = next(p for p in topology.workers if p.name == "beat")
    worker = next(p for p in topology.workers if p.name == "worker-1")
    deadline = time.monotonic() + 30
    while True:
        sent = set(re.findall(r"Sending due task \S+ \(([\w.]+)\)", beat.log(10_000_000)))
        done = {name for name in sent if re.search(rf"Task {re.escape(name)}\[[^\]]+\] succeeded", worker.log(10_000_000))}
        if done:
            break
        assert time.monotonic() < deadline, (sent, worker.log(3000))
        time.sleep(0.5)

    # -- the request ids in the logs: nginx's access log and Django's JSON request line
    time.sleep(0.5)  # log lines are flushed per line; give the processes a moment
    nginx_ids = {line.get("request_id") for line in _json_lines(topology.access_log)}
    assert {mine, gateway_id} <= nginx_ids
    django_lines = [line for p in topology.web for line in _json_lines(p.log_path)]
    for rid in (mine, gateway_id):
        hits = [line for line in django_lines if line.get("request_id") == rid]
        assert hits and hits[0]["path"] == "/api/users/profile" and hits[0]["status"] == 200, rid
        assert hits[0]["user_id"] == ada_id

    # -- analytics from both web processes and the worker landed in the one MongoDB
    stats = ada.ok("GET", "/api/analytics/stats?period=day")["data"]
    assert stats["totalTasksCompleted"] >= 1

    timings["total"] = round(time.monotonic() - t0 + topology.startup_seconds, 1)
    print(f"\nscale-out timings (s): {timings}")
