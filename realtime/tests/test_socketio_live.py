"""`/socket.io/` for real: a daphne process, the Redis channel layer, and python-socketio's own
AsyncClient (aiohttp) as the peer — the same protocol implementation family the web client's
socket.io-client speaks to. `/ws/` clients are `websockets` clients.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
import socketio
from asgiref.sync import sync_to_async
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from devtools.testing.daphne import DaphneServer

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def token_for(user) -> str:
    from accounts.tokens import issue_pair

    return issue_pair(user)["token"]


def ticket_for(user, password) -> str:
    """The cookie the browser gets from a real login."""
    from rest_framework.test import APIClient

    r = APIClient().post("/api/auth/login", {"email": user.email, "password": password}, format="json")
    assert r.status_code == 200, r.content
    return r.cookies["socket_ticket"].value


def run(coro_fn):
    from django.db import connections

    async def main():
        try:
            await asyncio.wait_for(coro_fn(), 60)
        finally:
            await sync_to_async(connections.close_all)()

    asyncio.run(main())


class Client:
    """A python-socketio AsyncClient that records every event it receives."""

    def __init__(self):
        # aiohttp's default cookie jar refuses cookies for IP hosts such as 127.0.0.1
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.sio = socketio.AsyncClient(reconnection=False, http_session=self.http)
        self.events: list[tuple[str, object]] = []
        self._arrived = asyncio.Event()

        self.refusal: dict | None = None

        @self.sio.on("*")
        async def any_event(event, data=None):
            self.events.append((event, data))
            self._arrived.set()

        @self.sio.on("connect_error")
        async def connect_error(data=None):
            self.refusal = data

    async def connect(self, server, *, auth=None, cookie=None, origin=None):
        headers = {}
        if cookie is not None:
            headers["Cookie"] = f"socket_ticket={cookie}"
        if origin is not None:
            headers["Origin"] = origin
        try:
            await self.sio.connect(
                server.http_url, transports=["websocket"], auth=auth, headers=headers, wait_timeout=10
            )
        except BaseException:
            await self.http.close()
            raise
        return self

    async def next(self, name: str, timeout: float = 8.0, where=lambda data: True):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen = 0
        while True:
            for index in range(seen, len(self.events)):
                event, data = self.events[index]
                if event == name and where(data):
                    del self.events[index]
                    return data
            seen = 0
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"no {name!r} within {timeout}s; got {[e for e, _ in self.events]}")
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                pass

    async def close(self):
        await self.sio.disconnect()
        await self.http.close()


async def refused(server, **kwargs) -> str:
    """Connects and expects a refusal. Returns the CONNECT_ERROR message the client was given,
    or "handshake" when the WebSocket itself was refused."""
    client = Client()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(server, **kwargs)
    await client.http.close()
    if not isinstance(client.refusal, dict):  # the client's own "Connection error": no Socket.IO reply
        return "handshake"
    assert set(client.refusal) == {"message", "data"}
    return client.refusal["message"]


async def frames_until_closed(ws, *, answer_pings=False, timeout=5.0):
    """Every frame until the server closes the socket, and the close code."""
    frames = []
    try:
        while True:
            frame = await asyncio.wait_for(ws.recv(), timeout)
            frames.append(frame)
            if answer_pings and frame == "2":
                await ws.send("3")
    except ConnectionClosed as closed:
        return frames, closed.rcvd.code if closed.rcvd else None


# ------------------------------------------------------------------ authentication
def test_connect_with_token_and_join_user_room_is_acknowledged(daphne_server, user):
    token = token_for(user)

    async def main():
        client = await Client().connect(daphne_server, auth={"token": token, "userId": user.pk})
        hello = await client.next("connection_confirmed")
        assert hello["userId"] == user.pk and hello["serverStatus"] == "connected"
        assert (await client.next("connected"))["userId"] == user.pk
        ack = await client.sio.call("join_user_room", user.pk, timeout=5)
        assert ack == {"ok": True, "room": f"user_{user.pk}"}
        assert await client.next("room_joined") == {"room": f"user_{user.pk}", "type": "user"}
        # someone else's room: refused with an error event and a negative ack, socket stays up
        ack = await client.sio.call("join_user_room", "someone-else", timeout=5)
        assert ack["ok"] is False and ack["error"]["code"] == "forbidden"
        error = await client.next("error")
        assert error["code"] == "forbidden" and error["event"] == "join_user_room"
        assert await client.sio.call("ping", {}, timeout=5) == {"ok": True}
        assert (await client.next("pong"))["id"] > error["id"]
        await client.close()

    run(main)


def test_connect_with_the_cookie_ticket_and_an_allowed_origin(daphne_server, user, password):
    ticket = ticket_for(user, password)

    async def main():
        client = await Client().connect(
            daphne_server, auth={"userId": user.pk}, cookie=ticket, origin=daphne_server.origin
        )
        assert (await client.next("connection_confirmed"))["userId"] == user.pk
        assert (await client.sio.call("join_user_room", user.pk, timeout=5))["ok"] is True
        await client.close()
        # the web client's own call: no auth object at all, the cookie alone
        client = await Client().connect(daphne_server, cookie=ticket, origin=daphne_server.origin)
        assert (await client.next("connection_confirmed"))["userId"] == user.pk
        await client.close()

    run(main)


def test_refusals(daphne_server, user, other_user, password):
    ticket = ticket_for(user, password)
    token = token_for(user)
    origin = daphne_server.origin

    async def main():
        # neither a token nor a cookie (a user id alone proves nothing)
        assert "Sign in first" in await refused(daphne_server, auth={"userId": user.pk}, origin=origin)
        assert "Sign in first" in await refused(daphne_server, origin=origin)
        # a token or cookie of one user, the id of another
        assert "userId does not match" in await refused(
            daphne_server, auth={"token": token, "userId": other_user.pk}, origin=origin
        )
        assert "userId does not match" in await refused(
            daphne_server, auth={"userId": other_user.pk}, cookie=ticket, origin=origin
        )
        # a bad token is not rescued by a good cookie
        assert "Invalid or expired token" in await refused(
            daphne_server, auth={"token": "not.a.jwt"}, cookie=ticket, origin=origin
        )
        # the cookie from a foreign page: refused at the handshake (cross-site WebSocket hijacking)
        assert await refused(daphne_server, cookie=ticket, origin="https://evil.example") == "handshake"
        # the cookie without any Origin: not a browser page of ours either
        assert "allowed Origin" in await refused(daphne_server, cookie=ticket)
        # a forged cookie
        assert "Sign in first" in await refused(daphne_server, cookie=ticket[:-3] + "xyz", origin=origin)

    run(main)


def test_a_page_on_another_port_or_scheme_of_the_same_host_gets_no_socket(daphne_server, user, password):
    """The review's finding: `Origin: http://127.0.0.1:1` with the login cookie got a working
    socket, because only the host name was compared. Scheme, host and port must all match."""
    ticket = ticket_for(user, password)
    token = token_for(user)
    port = daphne_server.port
    neighbours = (f"http://127.0.0.1:{port + 1 if port < 65535 else 1}", "http://127.0.0.1:1", "http://127.0.0.1",
                  f"https://127.0.0.1:{port}", f"http://localhost:{port}")

    async def main():
        for origin in neighbours:
            assert await refused(daphne_server, cookie=ticket, origin=origin) == "handshake", origin
            with pytest.raises(InvalidStatus) as refused_:
                await connect(daphne_server.ws_url_for(token), origin=origin, open_timeout=10)
            assert refused_.value.response.status_code == 403, origin
        # the page's own origin still works on both
        client = await Client().connect(daphne_server, cookie=ticket, origin=daphne_server.origin)
        assert (await client.next("connection_confirmed"))["userId"] == user.pk
        await client.close()
        ws = await connect(daphne_server.ws_url_for(token), origin=daphne_server.origin, open_timeout=10)
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connected"
        await ws.close()

    run(main)


def test_a_native_client_uses_its_token_without_an_origin(daphne_server, user):
    token = token_for(user)

    async def main():
        client = await Client().connect(daphne_server, auth={"token": token})
        assert (await client.next("connection_confirmed"))["userId"] == user.pk
        await client.close()

    run(main)


def test_logout_kills_the_ticket_for_new_sockets(daphne_server, user, password):
    from rest_framework.test import APIClient

    api = APIClient()
    login = api.post("/api/auth/login", {"email": user.email, "password": password}, format="json")
    ticket = login.cookies["socket_ticket"].value
    assert api.post("/api/auth/logout", {}, format="json").status_code == 200  # the refresh cookie

    async def main():
        assert "Sign in first" in await refused(daphne_server, cookie=ticket, origin=daphne_server.origin)

    run(main)


def test_an_expired_token_closes_the_socket_on_its_next_event_so_the_client_reconnects(daphne_server, user):
    from datetime import timedelta

    from rest_framework_simplejwt.tokens import AccessToken

    short = AccessToken(token_for(user))
    short.set_exp(lifetime=timedelta(seconds=2))
    url = f"ws://127.0.0.1:{daphne_server.port}/socket.io/?EIO=4&transport=websocket"

    async def main():
        ws = await connect(url, origin=daphne_server.origin, open_timeout=10)
        await ws.recv()  # open
        await ws.send("40" + json.dumps({"token": str(short)}))
        assert (await asyncio.wait_for(ws.recv(), 5)).startswith("40{")
        await asyncio.sleep(2.5)
        await ws.send('42["ping",{}]')
        frames, code = await frames_until_closed(ws, answer_pings=True)
        assert code == 4401
        assert "41" not in frames  # no Socket.IO DISCONNECT: that would stop the client reconnecting
        assert not [f for f in frames if f.startswith('42["pong"')]

    run(main)


# ------------------------------------------------------------------ protocol edges (raw frames)
def test_handshake_and_protocol_edges_with_raw_frames(daphne_server, user):
    base = f"ws://127.0.0.1:{daphne_server.port}/socket.io/"
    origin = daphne_server.origin

    async def main():
        for query in ("?EIO=3&transport=websocket", "?EIO=4&transport=polling", "?EIO=4&transport=websocket&sid=x"):
            with pytest.raises(InvalidStatus) as refused_:
                await connect(base + query, origin=origin, open_timeout=10)
            assert refused_.value.response.status_code == 403
        ws = await connect(base + "?EIO=4&transport=websocket", origin=origin, open_timeout=10)
        opened = await asyncio.wait_for(ws.recv(), 5)
        assert opened[0] == "0" and json.loads(opened[1:])["upgrades"] == []
        # garbage before CONNECT is dropped silently; the socket stays usable
        for frame in ("", "x", "42[", "4" + "[" * 3000, '42["x"]', "40/admin,"):
            await ws.send(frame)
        await ws.send(b"\x00\x01")
        answer = await asyncio.wait_for(ws.recv(), 5)
        assert answer.startswith("44/admin,") and "Invalid namespace" in answer
        await ws.send("40" + json.dumps({"token": await sync_to_async(token_for)(user)}))
        assert (await asyncio.wait_for(ws.recv(), 5)).startswith('40{"sid":')
        # after CONNECT, garbage is answered with an error event
        await ws.send("42[1,2]")
        while True:
            frame = await asyncio.wait_for(ws.recv(), 5)
            if frame.startswith('42["error"'):
                break
        assert json.loads(frame[2:])[1]["code"] == "invalid_message"
        await ws.send("41")  # Socket.IO DISCONNECT: the server closes cleanly
        _, code = await frames_until_closed(ws)
        assert code == 1000

    run(main)


def test_a_flooding_socket_is_limited_then_closed(daphne_server, user):
    url = f"ws://127.0.0.1:{daphne_server.port}/socket.io/?EIO=4&transport=websocket"

    async def main():
        ws = await connect(url, origin=daphne_server.origin, open_timeout=10)
        await ws.recv()  # open
        await ws.send("40" + json.dumps({"token": await sync_to_async(token_for)(user)}))
        assert (await asyncio.wait_for(ws.recv(), 5)).startswith("40{")
        for _ in range(200):  # any frame counts, even Engine.IO no-ops
            await ws.send("6")
        frames, code = await frames_until_closed(ws)
        assert code == 4429
        assert any(f.startswith('42["error"') and '"rate_limited"' in f for f in frames)

    run(main)


# ------------------------------------------------------------------ live notifications on both sockets
def test_completing_a_task_notifies_a_socketio_and_a_ws_client_at_once(daphne_server, user, client_factory):
    from gamification.models import Badge

    # A first badge worth 1,000 points: the completion also levels the user up (level 2 at 1,000 XP),
    # so both a type the web client shares (badge_earned) and a mapped one (level_up) arrive.
    Badge.objects.update_or_create(
        slug="first-steps",
        defaults={
            "name": "First Steps",
            "icon": "x",
            "description": "Complete your first task.",
            "category": "completion",
            "points": 1000,
            "criteria": {"type": "count", "metric": "tasks_completed", "value": 1},
        },
    )
    api = client_factory(user)
    task_id = api.post("/api/tasks", {"title": "Ship it", "estimatedDuration": 30}, format="json").json()["data"]["_id"]
    token = token_for(user)

    async def main():
        sio_client = await Client().connect(daphne_server, auth={"token": token, "userId": user.pk})
        await sio_client.next("connection_confirmed")
        ws = await connect(daphne_server.ws_url_for(token), origin=daphne_server.origin, open_timeout=10)
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connected"

        response = await sync_to_async(api.post)(
            f"/api/tasks/{task_id}/complete", {"actualDuration": 25}, format="json"
        )
        assert response.status_code == 200, response.content

        badge = await sio_client.next("notification", where=lambda d: d["notification"]["type"] == "badge_earned")
        assert badge["type"] == "badge_earned"
        assert badge["message"] == "Complete your first task."
        assert badge["notification"]["title"] == "Badge earned: First Steps"
        level = await sio_client.next("notification", where=lambda d: d["notification"]["type"] == "level_up")
        assert level["type"] == "points_earned"  # the web client's name for it
        assert level["notification"]["data"] == {"from": 1, "to": 2}

        ws_notes = {}
        while len(ws_notes) < 2:
            event = json.loads(await asyncio.wait_for(ws.recv(), 5))
            if event["type"] == "notification":
                ws_notes[event["notification"]["type"]] = event
        # the same events, the same per-user ids, on both sockets
        assert ws_notes["badge_earned"]["id"] == badge["id"]
        assert ws_notes["level_up"]["id"] == level["id"]
        assert ws_notes["badge_earned"]["notification"] == badge["notification"]
        await sio_client.close()
        await ws.close()

    run(main)


# ------------------------------------------------------------------ heartbeats
@pytest.fixture
def fast_heartbeat_daphne(transactional_db, django_db_blocker):
    from django.conf import settings

    if not settings.REDIS_URL or not settings.USING_POSTGRES:
        pytest.skip("daphne tests need PostgreSQL and Redis")
    server = DaphneServer(
        env={"SOCKETIO_PING_INTERVAL": "0.3", "SOCKETIO_PING_TIMEOUT": "0.6", "SOCKETIO_CONNECT_TIMEOUT": "1.5"}
    )
    with django_db_blocker.unblock():
        server.start()
    try:
        yield server
    finally:
        server.close()


def test_heartbeats_keep_an_idle_socket_alive_and_drop_a_silent_one(fast_heartbeat_daphne, user):
    server = fast_heartbeat_daphne
    token = token_for(user)

    async def main():
        client = await Client().connect(server, auth={"token": token})
        await client.next("connection_confirmed")
        assert client.sio.eio.ping_interval == 0.3 and client.sio.eio.ping_timeout == 0.6
        await asyncio.sleep(3)  # ten ping intervals, nothing sent by us but pongs
        assert client.sio.connected
        assert (await client.sio.call("join_user_room", user.pk, timeout=5))["ok"] is True
        await client.close()

        # a client that never answers the pings is closed once pingTimeout has passed
        ws = await connect(
            f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket", origin=server.origin, open_timeout=10
        )
        await ws.recv()  # open
        await ws.send("40" + json.dumps({"token": token}))
        frames, _ = await frames_until_closed(ws)
        assert frames.count("2") == 1

        # a socket that never completes the Socket.IO CONNECT is closed too
        ws = await connect(
            f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket", origin=server.origin, open_timeout=10
        )
        frames, _ = await frames_until_closed(ws, answer_pings=True)
        assert frames[-1] == "1"  # Engine.IO CLOSE before the socket closes

    run(main)


# ------------------------------------------------------------------ multiplayer: duel and collaboration names
def test_duel_and_collaboration_events_map_to_a_multiplayer_session(daphne_server, user, other_user, make_user):
    from realtime.tests.test_socket_live import make_challenge

    challenge = make_challenge(user)
    user.friends.add(other_user)  # invitations go to accepted friends only
    outsider = make_user(email="carol@example.com", name="Carol")
    tokens = {u.pk: token_for(u) for u in (user, other_user, outsider)}

    async def main():
        host = await Client().connect(daphne_server, auth={"token": tokens[user.pk]})
        guest = await Client().connect(daphne_server, auth={"token": tokens[other_user.pk]})
        stranger = await Client().connect(daphne_server, auth={"token": tokens[outsider.pk]})

        # duel:challenge creates the session (the REST create's service) and invites the target
        ack = await stranger.sio.call(
            "duel:challenge", {"targetUserId": user.pk, "challengeConfig": {"challengeId": challenge.pk}}, timeout=5
        )
        assert ack["ok"] is False and ack["error"]["code"] == "not_found"  # not the stranger's challenge
        ack = await host.sio.call(
            "duel:challenge",
            {"targetUserId": other_user.pk, "challengeConfig": {"challengeId": challenge.pk}},
            timeout=5,
        )
        assert ack == {"ok": True}
        session_id = (await host.next("session-created"))["session"]["_id"]
        invite = await guest.next("duel:invite")
        assert (
            invite["duelId"] == session_id and invite["fromUserId"] == user.pk and invite["fromUserName"] == user.name
        )
        note = await guest.next("notification")
        assert note["type"] == "session_invite" and note["notification"]["data"]["sessionId"] == session_id
        ack = await host.sio.call(
            "duel:challenge", {"targetUserId": other_user.pk, "challengeId": challenge.pk}, timeout=5
        )
        assert ack["error"]["code"] == "conflict"  # one active session per challenge

        assert (await host.sio.call("collaboration:join", {"roomId": session_id}, timeout=5))["ok"] is True
        start = await host.next("duel:start")
        assert start["duelId"] == session_id and {p["userId"] for p in start["participants"]} == {
            user.pk,
            other_user.pk,
        }
        assert (await guest.sio.call("duel:accept", {"duelId": session_id}, timeout=5))["ok"] is True
        await guest.next("duel:start")
        joined = await host.next("collaborator:joined", where=lambda d: d["userId"] == other_user.pk)
        assert joined["roomId"] == session_id

        assert (await guest.sio.call("duel:progress", {"duelId": session_id, "progress": 40}, timeout=5))["ok"] is True
        update = await host.next("duel:update")
        assert update == {"duelId": session_id, "userId": other_user.pk, "progress": 40}
        await host.sio.emit("collaboration:update", {"roomId": session_id, "update": {"progress": 100}})
        state = await guest.next("collaboration:state", where=lambda d: d["update"]["userId"] == user.pk)
        assert state["update"]["progress"] == 99  # a client's 100 is a claim; the server finishes sessions

        # what sessions do not have: an error event and a negative ack, never a crash
        ack = await guest.sio.call("duel:end", {"duelId": session_id}, timeout=5)
        assert ack["ok"] is False and ack["error"]["code"] == "unsupported"
        assert (await guest.next("error"))["event"] == "duel:end"
        ack = await guest.sio.call("collaboration:update", {"roomId": session_id, "update": {"text": "hi"}}, timeout=5)
        assert ack["error"]["code"] == "unsupported"
        ack = await stranger.sio.call("collaboration:join", {"roomId": session_id}, timeout=5)
        assert ack["error"]["code"] == "forbidden"
        ack = await stranger.sio.call("duel:progress", {"duelId": session_id, "progress": 10}, timeout=5)
        assert ack["error"]["code"] == "not_joined"
        ack = await stranger.sio.call("collaboration:join", "../../etc", timeout=5)
        assert ack["error"]["code"] == "invalid_room"
        ack = await stranger.sio.call("duel:challenge", {"targetUserId": user.pk}, timeout=5)
        assert ack["error"]["code"] == "invalid_message"

        # leaving announces it to the others
        assert (await guest.sio.call("collaboration:leave", {"roomId": session_id}, timeout=5))["ok"] is True
        assert (await host.next("collaborator:left"))["userId"] == other_user.pk
        for client in (host, guest, stranger):
            await client.close()

    run(main)


def test_unknown_events_are_ignored_and_counted(daphne_server, user, staff_user, client_factory):
    token = token_for(user)

    async def main():
        sio_client = await Client().connect(daphne_server, auth={"token": token})
        await sio_client.next("connection_confirmed")
        await sio_client.sio.emit("join_adventure_room", "adv1")
        await sio_client.sio.emit("join_adventure_room", "adv2")
        await sio_client.sio.emit("something-random", {"a": 1})
        # still connected and answering afterwards
        assert await sio_client.sio.call("ping", {}, timeout=5) == {"ok": True}
        assert not [e for e, _ in sio_client.events if e == "error"]
        await sio_client.close()

    run(main)
    metrics = client_factory(staff_user).get("/metrics").content.decode()
    assert 'deepiri_socketio_unknown_events_total{event="join_adventure_room"} 2.0' in metrics
    assert 'deepiri_socketio_unknown_events_total{event="other"} 1.0' in metrics


# ------------------------------------------------------------------ /ws/ for native clients
def test_ws_accepts_a_token_without_origin_and_refuses_a_foreign_one(daphne_server, user):
    token = token_for(user)

    async def main():
        ws = await connect(daphne_server.ws_url_for(token), open_timeout=10)  # no Origin header at all
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connected"
        await ws.close()
        ws = await connect(daphne_server.ws_url(), open_timeout=10)  # no Origin, no token: still no socket
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd.code == 4401
        for foreign in ("https://evil.example", "null"):
            with pytest.raises(InvalidStatus) as refused_:
                await connect(daphne_server.ws_url_for(token), origin=foreign, open_timeout=10)
            assert refused_.value.response.status_code == 403

    run(main)
