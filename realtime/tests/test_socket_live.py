"""Real sockets: a daphne process, the Redis channel layer, `websockets` clients.

Each test starts daphne on a free port against this test's committed database; the test
process makes REST calls with the test client, whose after-commit publishers reach daphne's
sockets through channels_redis.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def token_for(user) -> str:
    from accounts.tokens import issue_pair

    return issue_pair(user)["token"]


class Socket:
    """A websockets client that keeps the events it skipped, for `next(type)`."""

    def __init__(self, ws):
        self.ws = ws
        self.seen: list[dict] = []
        self.buffer: list[dict] = []

    @classmethod
    async def open(cls, server, user):
        token = await sync_to_async(token_for)(user)
        ws = await connect(server.ws_url_for(token), origin=server.origin, open_timeout=10)
        sock = cls(ws)
        hello = await sock.next("connected")
        sock.hello = hello
        return sock

    async def send(self, **message):
        await self.ws.send(json.dumps(message))

    async def next(self, type_: str, timeout: float = 5.0, **match) -> dict:
        for i, event in enumerate(self.buffer):
            if event["type"] == type_ and all(event.get(k) == v for k, v in match.items()):
                return self.buffer.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"no {type_} {match or ''} within {timeout}s; got {[e['type'] for e in self.buffer]}"
                )
            raw = await asyncio.wait_for(self.ws.recv(), remaining)
            event = json.loads(raw)
            self.seen.append(event)
            if event["type"] == type_ and all(event.get(k) == v for k, v in match.items()):
                return event
            self.buffer.append(event)

    async def join(self, room: str) -> dict:
        await self.send(type="join-room", room=room)
        return await self.next("room-joined", room=room)

    @property
    def last_id(self) -> int:
        return max(e["id"] for e in self.seen)

    async def close(self):
        await self.ws.close()


async def drain_until_closed(sock, timeout: float = 5.0) -> bool:
    """Events already buffered come first, then the broken connection."""
    try:
        while True:
            await asyncio.wait_for(sock.ws.recv(), timeout)
    except ConnectionClosed:
        return True


def run(coro_fn):
    from django.db import connections

    async def main():
        try:
            await asyncio.wait_for(coro_fn(), 60)
        finally:
            await sync_to_async(connections.close_all)()  # the worker thread's connection

    asyncio.run(main())


def make_challenge(user, **extra):
    from challenges.models import Challenge
    from tasks.models import Task

    task = Task.objects.create(user=user, title="Write the report", estimated_duration=30)
    return Challenge.objects.create(
        user=user,
        task=task,
        type="timed_completion",
        title="Finish the report",
        status=extra.pop("status", "active"),
        points_reward=100,
        configuration={"time_limit": 15, "hints": ["Outline first", "Then write"]},
        **extra,
    )


# ------------------------------------------------------------------ auth and permissions
def test_rejected_token_and_forbidden_room(daphne_server, user, other_user):
    challenge = make_challenge(other_user)

    async def main():
        for query in ("", "?token=bad.token.here"):
            ws = await connect(daphne_server.ws_url(query), origin=daphne_server.origin)
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd.code == 4401
        sock = await Socket.open(daphne_server, user)
        await sock.send(type="join-room", room=f"challenge:{challenge.pk}")
        error = await sock.next("error")
        assert error["code"] == "forbidden"
        await sock.send(type="ping")
        assert (await sock.next("pong"))["id"] > error["id"]
        await sock.close()

    run(main)


# ------------------------------------------------------------------ a REST completion on the socket
def test_rest_completion_pushes_notification_and_leaderboard_update(daphne_server, user, other_user, client_factory):
    from gamification.models import Badge

    Badge.objects.get_or_create(
        slug="first-steps",
        defaults={
            "name": "First Steps",
            "icon": "x",
            "description": "Complete your first task.",
            "category": "completion",
            "criteria": {"type": "count", "metric": "tasks_completed", "value": 1},
        },
    )
    api = client_factory(user)
    task_id = api.post("/api/tasks", {"title": "Ship it", "estimatedDuration": 30}, format="json").json()["data"]["_id"]

    async def main():
        mine = await Socket.open(daphne_server, user)
        watcher = await Socket.open(daphne_server, other_user)
        await watcher.join("leaderboard:all")
        response = await sync_to_async(api.post)(
            f"/api/tasks/{task_id}/complete", {"actualDuration": 25}, format="json"
        )
        assert response.status_code == 200, response.content
        effects = response.json()["data"]["effects"]
        assert effects["pointsAwarded"] > 0
        note = await mine.next("notification")
        while note["notification"]["type"] != "badge_earned":  # a level-up may come first
            note = await mine.next("notification")
        assert note["notification"]["title"] == "Badge earned: First Steps"
        assert note["notification"]["eventId"] == note["id"]
        # The task award and the badge award may arrive as one update or as two (coalesced:
        # never more than one per half second); the last one has the user's total.
        updates = [await watcher.next("leaderboard-update")]
        while {"userId": user.id, "rank": 1, "points": effects["pointsAwarded"]} not in updates[-1]["changed"]:
            updates.append(await watcher.next("leaderboard-update", timeout=3))
        assert len(updates) <= 2
        assert all(u["period"] == "all" for u in updates)
        assert updates[-1]["top"][0]["userId"]["_id"] == user.id
        assert updates[-1]["top"][0]["points"] == effects["pointsAwarded"]
        await mine.close()
        await watcher.close()

    run(main)


# ------------------------------------------------------------------ reconnect and catch up with since
def test_disconnected_client_recovers_missed_notifications_with_since(daphne_server, user, client_factory):
    from notifications import services

    api = client_factory(user)

    async def main():
        sock = await Socket.open(daphne_server, user)
        await sync_to_async(services.notify)(user, "system", "Before", "seen live")
        seen = await sock.next("notification")
        last_id = sock.last_id
        await sock.close()
        missed = [await sync_to_async(services.notify)(user, "system", f"Missed {i}", "while away") for i in range(3)]
        sock = await Socket.open(daphne_server, user)
        assert sock.hello["id"] > last_id
        response = await sync_to_async(api.get)(f"/api/notifications?since={last_id}")
        assert response.status_code == 200
        recovered = response.json()["data"]
        assert [n["_id"] for n in recovered] == [n.pk for n in missed]
        assert seen["notification"]["_id"] not in [n["_id"] for n in recovered]
        assert all(n["eventId"] > last_id for n in recovered)
        await sock.close()

    run(main)


# ------------------------------------------------------------------ multiplayer session
async def _join_session(sock, session_id):
    await sock.join(f"session:{session_id}")
    return await sock.next("session-state")


def test_two_users_in_a_session_see_progress_presence_and_the_winner(daphne_server, user, other_user, client_factory):
    from challenges.sessions.models import ChallengeSession
    from gamification.models import LedgerEntry

    challenge = make_challenge(user)
    user.friends.add(other_user)  # invitations go to accepted friends only
    host_api = client_factory(user)
    guest_api = client_factory(other_user)

    def finish(api, session_id):
        # A session is finished through the server's check (REST), never by socket progress.
        ChallengeSession.objects.filter(pk=session_id).update(started_at=timezone.now() - timedelta(minutes=2))
        r = api.post(f"/api/challenges/sessions/{session_id}/complete")
        assert r.status_code == 200, r.content

    async def main():
        guest = await Socket.open(daphne_server, other_user)
        response = await sync_to_async(host_api.post)(
            f"/api/challenges/{challenge.pk}/sessions", {"inviteUserIds": [other_user.id]}, format="json"
        )
        assert response.status_code == 201, response.content
        session = response.json()["data"]
        assert session["room"] == f"session:{session['_id']}"
        assert {p["userId"] for p in session["participants"]} == {user.id, other_user.id}
        invite = await guest.next("notification")
        assert invite["notification"]["type"] == "session_invite"
        assert invite["notification"]["data"]["sessionId"] == session["_id"]

        host = await Socket.open(daphne_server, user)
        await _join_session(host, session["_id"])
        state = await _join_session(guest, session["_id"])
        assert state["session"]["status"] == "active"
        joined = await host.next("presence", userId=other_user.id)
        assert joined["status"] == "joined" and set(joined["online"]) == {user.id, other_user.id}

        await host.send(type="challenge-update", challengeId=challenge.pk, progress=40, data={"step": 2})
        for sock in (host, guest):
            update = await sock.next("progress-update", userId=user.id)
            assert update["progress"] == 40 and update["sessionId"] == session["_id"] and update["data"] == {"step": 2}
        await guest.send(type="challenge-update", challengeId=challenge.pk, progress=150)
        assert (await guest.next("error"))["code"] == "invalid_progress"

        await guest.send(type="challenge-update", challengeId=challenge.pk, progress=100)
        reported = await host.next("progress-update", userId=other_user.id)
        assert reported["progress"] == 99  # a client's 100 is a claim, not a finish
        await sync_to_async(finish)(guest_api, session["_id"])
        update = await host.next("session-update")
        assert update["session"]["winnerId"] is None or update["session"]["winnerId"] == other_user.id
        guest_row = next(p for p in update["session"]["participants"] if p["userId"] == other_user.id)
        assert guest_row["finishedAt"] and guest_row["bonusPoints"] == session["firstFinisherBonus"]

        await guest.close()
        left = await host.next("presence", userId=other_user.id, status="left")
        assert left["online"] == [user.id]

        await sync_to_async(finish)(host_api, session["_id"])  # the owner completes the challenge
        ended = await host.next("session-ended")
        assert ended["session"]["status"] == "completed"
        await host.close()

    run(main)
    stored = ChallengeSession.objects.get(challenge=challenge)
    assert stored.status == "completed" and stored.winner_id == other_user.id
    standings = stored.result["standings"]
    assert [row["user_id"] for row in standings] == [other_user.id, user.id]
    assert LedgerEntry.objects.filter(user=other_user, idempotency_key=f"session:{stored.pk}:first").count() == 1
    assert not LedgerEntry.objects.filter(user=user, idempotency_key__startswith="session:").exists()


def _finish_via_rest(api, session_id):
    from challenges.sessions.models import ChallengeSession

    ChallengeSession.objects.filter(pk=session_id).update(started_at=timezone.now() - timedelta(minutes=2))
    r = api.post(f"/api/challenges/sessions/{session_id}/complete")
    assert r.status_code == 200, r.content


def test_session_survives_a_daphne_restart(daphne_server, user, other_user, client_factory):
    from challenges.sessions.models import ChallengeSession

    challenge = make_challenge(user)
    user.friends.add(other_user)
    host_api = client_factory(user)
    guest_api = client_factory(other_user)
    session_id = host_api.post(
        f"/api/challenges/{challenge.pk}/sessions", {"inviteUserIds": [other_user.id]}, format="json"
    ).json()["data"]["_id"]

    async def before():
        host = await Socket.open(daphne_server, user)
        guest = await Socket.open(daphne_server, other_user)
        await _join_session(host, session_id)
        await _join_session(guest, session_id)
        await host.send(type="challenge-update", challengeId=challenge.pk, progress=60)
        await guest.next("progress-update", userId=user.id)
        await guest.send(type="challenge-update", challengeId=challenge.pk, progress=30)
        await host.next("progress-update", userId=other_user.id)
        return host, guest

    async def after():
        host = await Socket.open(daphne_server, user)
        state = (await _join_session(host, session_id))["session"]
        progress = {p["userId"]: p["progress"] for p in state["participants"]}
        assert progress == {user.id: 60, other_user.id: 30}
        assert state["status"] == "active"
        guest = await Socket.open(daphne_server, other_user)
        await _join_session(guest, session_id)
        await sync_to_async(_finish_via_rest)(host_api, session_id)
        await guest.next("session-update")
        await sync_to_async(_finish_via_rest)(guest_api, session_id)
        ended = await host.next("session-ended")
        assert ended["session"]["status"] == "completed"
        assert ended["session"]["winnerId"] == user.id
        await host.close()
        await guest.close()

    async def crash_and_continue():
        host, guest = await before()
        await sync_to_async(daphne_server.restart)(kill=True)  # SIGKILL: no clean disconnects
        for sock in (host, guest):
            assert await drain_until_closed(sock)
        await after()

    run(crash_and_continue)
    stored = ChallengeSession.objects.get(pk=session_id)
    assert stored.status == "completed" and stored.winner_id == user.id
