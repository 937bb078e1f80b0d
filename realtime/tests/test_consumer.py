"""The /ws/ consumer in-process (channels' WebsocketCommunicator through deepiri.asgi).

Runs with whatever channel layer the settings pick: the in-memory layer with REDIS_URL unset,
channels_redis with it set. The consumer's DB work runs in other threads, hence transaction=True.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from notifications import services
from notifications.models import Notification
from realtime import consumers, leaderboards, presence

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = [(b"origin", b"http://localhost:5173"), (b"host", b"localhost")]


def token_for(user, *, expired=False) -> str:
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.tokens import issue_pair, password_version

    if not expired:
        return issue_pair(user)["token"]
    token = AccessToken.for_user(user)
    token["pwv"] = password_version(user)
    token.set_exp(lifetime=-timedelta(seconds=5))
    return str(token)


def communicator(query: str = "", headers=None) -> WebsocketCommunicator:
    from deepiri.asgi import application

    return WebsocketCommunicator(application, f"/ws/{query}", headers=headers if headers is not None else ORIGIN)


async def open_socket(user):
    comm = communicator(f"?token={await sync_to_async(token_for)(user)}")
    connected, _ = await comm.connect(timeout=5)
    assert connected
    hello = await comm.receive_json_from(timeout=5)
    assert hello["type"] == "connected"
    return comm, hello


async def next_of(comm, type_, timeout=3):
    """The next event of `type_` (skipping others)."""
    deadline = time.monotonic() + timeout
    while True:
        event = await comm.receive_json_from(timeout=max(0.05, deadline - time.monotonic()))
        if event["type"] == type_:
            return event


def run(coro_fn):
    from django.db import connections

    async def main():
        try:
            await asyncio.wait_for(coro_fn(), 30)
        finally:
            await sync_to_async(connections.close_all)()  # the worker thread's connection

    asyncio.run(main())


# ------------------------------------------------------------------ authentication and origin
@pytest.mark.parametrize("kind", ["none", "garbage", "expired", "old_password", "inactive"])
def test_bad_token_closes_4401(user, kind):
    async def main():
        if kind == "none":
            query = ""
        elif kind == "garbage":
            query = "?token=not.a.jwt"
        elif kind == "expired":
            query = f"?token={await sync_to_async(token_for)(user, expired=True)}"
        else:
            token = await sync_to_async(token_for)(user)

            def change():
                if kind == "old_password":
                    user.set_password("An-Other-Passw0rd!")
                else:
                    user.is_active = False
                user.save()

            await sync_to_async(change)()
            query = f"?token={token}"
        comm = communicator(query)
        await comm.connect(timeout=5)
        output = await comm.receive_output(timeout=5)
        assert output["type"] == "websocket.close"
        assert output["code"] == consumers.CLOSE_UNAUTHENTICATED
        await comm.wait()

    run(main)


def test_foreign_origin_is_refused_and_a_missing_one_needs_the_token(user):
    async def main():
        comm = communicator(
            f"?token={await sync_to_async(token_for)(user)}", headers=[(b"origin", b"https://evil.example")]
        )
        connected, _ = await comm.connect(timeout=5)
        assert connected is False
        # no Origin at all: a native client (app, bot, CLI), accepted with its own token
        comm = communicator(f"?token={await sync_to_async(token_for)(user)}", headers=[])
        connected, _ = await comm.connect(timeout=5)
        assert connected is True
        assert (await comm.receive_json_from(timeout=3))["type"] == "connected"
        await comm.disconnect()
        # ... and without one it is closed like any other unauthenticated socket
        comm = communicator("", headers=[])
        connected, _ = await comm.connect(timeout=5)
        assert connected is True
        assert (await comm.receive_output(timeout=3))["code"] == 4401

    run(main)


# ------------------------------------------------------------------ events: ids, ts, ping
def test_connected_then_ping_pong_with_increasing_ids(user):
    async def main():
        comm, hello = await open_socket(user)
        assert hello["userId"] == user.id
        assert isinstance(hello["id"], int) and hello["ts"].endswith("Z")
        await comm.send_json_to({"type": "ping"})
        pong = await comm.receive_json_from(timeout=3)
        assert pong["type"] == "pong" and pong["id"] > hello["id"]
        # A second socket of the same user continues the same sequence.
        comm2, hello2 = await open_socket(user)
        assert hello2["id"] > pong["id"]
        await comm.disconnect()
        await comm2.disconnect()

    run(main)


# ------------------------------------------------------------------ malformed input
def test_malformed_input_gets_error_events_and_socket_survives(user):
    async def main():
        comm, _ = await open_socket(user)
        cases = [
            ("{not json", "invalid_json"),
            ("[1, 2]", "invalid_message"),
            (json.dumps({"no": "type"}), "invalid_message"),
            (json.dumps({"type": "dance"}), "unknown_type"),
            (json.dumps({"type": "join-room", "room": "kitchen:1"}), "invalid_room"),
            (json.dumps({"type": "join-room", "room": "leaderboard:year"}), "invalid_room"),
            (json.dumps({"type": "join-room"}), "invalid_room"),
            (json.dumps({"type": "challenge-update", "challengeId": "0" * 24, "progress": 101}), "invalid_progress"),
            (json.dumps({"type": "challenge-update", "challengeId": "0" * 24, "progress": "50"}), "invalid_progress"),
            (json.dumps({"type": "challenge-update", "progress": 5}), "invalid_message"),
            (json.dumps({"type": "hint-request"}), "invalid_message"),
            (json.dumps({"type": "ping", "pad": "x" * (consumers.MAX_MESSAGE_BYTES + 1)}), "too_large"),
            # a small message nested 600 deep: refused by the shared JSON limits, not a 1011 close
            ('{"type": "ping", "x": ' + "[" * 600 + "]" * 600 + "}", "too_deep"),
            ('{"type": "ping", "x": "a\\u0000b"}', "null_character"),
            # numbers a reader could not take back (jsonb would store them exactly, orjson
            # refuses to write an integer beyond 64 bits)
            ('{"type": "ping", "x": {"n": 9007199254740992}}', "number_out_of_range"),
            ('{"type": "ping", "x": [-18446744073709551616]}', "number_out_of_range"),
            ('{"type": "ping", "x": 1e300}', "number_out_of_range"),
        ]
        for text, code in cases:
            await comm.send_to(text_data=text)
            event = await comm.receive_json_from(timeout=3)
            assert event["type"] == "error", (text[:40], event)
            assert event["code"] == code, (text[:40], event)
            assert event["message"]
        await comm.send_to(bytes_data=b"\x00\x01")
        assert (await comm.receive_json_from(timeout=3))["code"] == "unsupported"
        await comm.send_json_to({"type": "ping"})
        assert (await comm.receive_json_from(timeout=3))["type"] == "pong"
        await comm.disconnect()

    run(main)


def test_rate_limit(user, monkeypatch):
    monkeypatch.setattr(consumers, "RATE_PER_SECOND", 1.0)
    monkeypatch.setattr(consumers, "RATE_BURST", 5.0)

    async def main():
        comm, _ = await open_socket(user)
        for _ in range(8):
            await comm.send_json_to({"type": "ping"})
        kinds = [(await comm.receive_json_from(timeout=3)) for _ in range(8)]
        assert [k["type"] for k in kinds].count("pong") in (5, 6)  # the burst (+ at most one refill)
        assert any(k.get("code") == "rate_limited" for k in kinds)
        await comm.disconnect()

    run(main)


# ------------------------------------------------------------------ rooms
def test_join_and_leave_leaderboard_room_and_forbidden_challenge_room(user, other_user):
    from kernel.ids import new_id

    async def main():
        comm, _ = await open_socket(user)
        await comm.send_json_to({"type": "join-room", "room": "leaderboard:week"})
        joined = await comm.receive_json_from(timeout=3)
        assert joined["type"] == "room-joined" and joined["room"] == "leaderboard:week"
        for room in (f"challenge:{new_id()}", f"session:{new_id()}"):
            await comm.send_json_to({"type": "join-room", "room": room})
            err = await comm.receive_json_from(timeout=3)
            assert err["type"] == "error" and err["code"] == "forbidden"
        await comm.send_json_to({"type": "leave-room", "room": "leaderboard:week"})
        assert (await comm.receive_json_from(timeout=3))["type"] == "room-left"
        await comm.disconnect()

    run(main)


# ------------------------------------------------------------------ publisher -> socket
def test_notify_pushes_notification_with_the_stored_event_id(user, other_user):
    async def main():
        comm, hello = await open_socket(user)
        other, _ = await open_socket(other_user)
        n = await sync_to_async(services.notify)(user, "system", "Hello", "World", data={"some_key": 1})
        event = await next_of(comm, "notification")
        assert event["id"] > hello["id"]
        assert event["notification"]["_id"] == n.id
        assert event["notification"]["data"] == {"someKey": 1}
        assert event["notification"]["eventId"] == event["id"]
        stored = await sync_to_async(Notification.objects.get)(pk=n.pk)
        assert stored.event_id == event["id"] and stored.pushed_at is not None
        assert await other.receive_nothing(timeout=0.3)  # never another user's
        await comm.disconnect()
        await other.disconnect()

    run(main)


# ------------------------------------------------------------------ connection tracking
def test_connection_tracking(user, other_user):
    async def main():
        a1, _ = await open_socket(user)
        a2, _ = await open_socket(user)
        b1, _ = await open_socket(other_user)
        assert await sync_to_async(presence.socket_count)(user.id) == 2
        assert await sync_to_async(presence.counts)() == {"connections": 3, "online_users": 2}
        await a1.disconnect()
        assert await sync_to_async(presence.socket_count)(user.id) == 1
        assert await sync_to_async(presence.is_online)(user.id)
        await a2.disconnect()
        assert not await sync_to_async(presence.is_online)(user.id)
        assert await sync_to_async(presence.counts)() == {"connections": 1, "online_users": 1}
        await b1.disconnect()
        assert await sync_to_async(presence.online_user_ids)() == []

    run(main)


def test_crashed_process_sockets_expire(user):
    from kernel.redis import get_redis

    async def main():
        await presence.register(user.id, "specific.crashed!abc")

    run(main)
    assert presence.counts() == {"connections": 1, "online_users": 1}
    r = get_redis()
    past = time.time() - 1
    r.zadd(presence.conns_key(), {f"{user.id} specific.crashed!abc": past})
    r.zadd(presence.online_key(), {user.id: past})
    r.zadd(presence.sockets_key(user.id), {"specific.crashed!abc": past})
    assert presence.counts() == {"connections": 0, "online_users": 0}  # readers ignore expired
    assert presence.socket_count(user.id) == 0
    assert services.cleanup()["stale_sockets"] == 1
    assert r.zcard(presence.conns_key()) == 0


def test_metrics_expose_socket_counts(user, client):
    from accounts.models import ScopedAPIKey

    _, key = ScopedAPIKey.objects.create_key(name="prometheus", scope="metrics")

    async def main():
        comm, _ = await open_socket(user)
        text = (await sync_to_async(client.get)("/metrics", HTTP_AUTHORIZATION=f"Api-Key {key}")).content.decode()
        assert "deepiri_ws_connections 1.0" in text
        assert "deepiri_ws_online_users 1.0" in text
        await comm.disconnect()

    run(main)


# ------------------------------------------------------------------ leaderboard coalescing
def test_leaderboard_updates_are_coalesced(user):
    async def main():
        comm, _ = await open_socket(user)
        await comm.send_json_to({"type": "join-room", "room": "leaderboard:all"})
        await next_of(comm, "room-joined")
        started = time.monotonic()
        for _ in range(5):
            await sync_to_async(leaderboards.changed)("all", [user.id])
        first = await next_of(comm, "leaderboard-update")
        second = await next_of(comm, "leaderboard-update", timeout=3)
        elapsed = time.monotonic() - started
        assert first["period"] == second["period"] == "all" and "top" in first and "changed" in first
        assert second["id"] > first["id"]
        assert elapsed >= leaderboards.LEADERBOARD_MIN_INTERVAL * 0.9
        assert await comm.receive_nothing(timeout=0.8)  # five changes -> exactly two updates
        await comm.disconnect()

    run(main)


# ------------------------------------------------------------------ token expiry while connected
def test_token_expiring_while_connected_closes_4401(user):
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.tokens import password_version

    token = AccessToken.for_user(user)
    token["pwv"] = password_version(user)
    token.set_exp(lifetime=timedelta(seconds=2))

    async def main():
        comm = communicator(f"?token={token}")
        connected, _ = await comm.connect(timeout=5)
        assert connected
        assert (await comm.receive_json_from(timeout=5))["type"] == "connected"
        await asyncio.sleep(2.2)
        await comm.send_json_to({"type": "ping"})
        output = await comm.receive_output(timeout=5)
        assert output["type"] == "websocket.close" and output["code"] == consumers.CLOSE_UNAUTHENTICATED

    run(main)


# ------------------------------------------------------------------ hint-request uses the REST hint service
def test_hint_request_over_the_socket(user, other_user):
    from challenges.models import Challenge
    from tasks.models import Task

    task = Task.objects.create(user=user, title="Study")
    challenge = Challenge.objects.create(
        user=user, task=task, type="quiz", title="Quiz", status="active", configuration={"hints": ["First", "Second"]}
    )

    async def main():
        comm, _ = await open_socket(user)
        for expected, remaining in (("First", 1), ("Second", 0)):
            await comm.send_json_to({"type": "hint-request", "challengeId": challenge.id})
            hint = await next_of(comm, "hint")
            assert hint["hint"] == expected and hint["hintsRemaining"] == remaining
            assert hint["challengeId"] == challenge.id
        await comm.send_json_to({"type": "hint-request", "challengeId": challenge.id})
        err = await next_of(comm, "error")
        assert err["code"] == "conflict" and "No hints left" in err["message"]
        other, _ = await open_socket(other_user)
        await other.send_json_to({"type": "hint-request", "challengeId": challenge.id})
        assert (await next_of(other, "error"))["code"] == "not_found"
        await comm.disconnect()
        await other.disconnect()

    run(main)
    challenge.refresh_from_db()
    assert challenge.hints_used == 2


# ------------------------------------------------------------------ Redis lost the sequence
def test_ids_never_restart_below_stored_notifications(user):
    from kernel.redis import get_redis
    from realtime import publisher

    Notification.objects.create(user=user, type="system", title="old", event_id=50)
    get_redis().delete(publisher.seq_key(user.id))

    async def main():
        comm, hello = await open_socket(user)
        assert hello["id"] == 51
        await comm.disconnect()

    run(main)


# ------------------------------------------------------------------ deactivation closes open sockets
def test_deactivating_a_user_closes_their_sockets(user, other_user):
    from accounts import services as account_services

    async def main():
        mine, _ = await open_socket(user)
        theirs, _ = await open_socket(other_user)
        await sync_to_async(account_services.set_active)(user, False)
        output = await mine.receive_output(timeout=5)
        assert output["type"] == "websocket.close" and output["code"] == consumers.CLOSE_UNAUTHENTICATED
        await theirs.send_json_to({"type": "ping"})
        assert (await next_of(theirs, "pong"))["type"] == "pong"  # other users stay connected
        await theirs.disconnect()

    run(main)
