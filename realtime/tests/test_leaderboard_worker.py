"""With a broker, leaderboard updates are sent by a REAL Celery worker, still coalesced: the
process that moved a score only publishes a job."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import sync_to_async

from realtime import leaderboards
from realtime.tests.test_consumer import next_of, open_socket, run

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_the_worker_sends_one_update_now_and_one_trailing(user, celery_worker):
    worker = celery_worker()

    async def main():
        comm, _ = await open_socket(user)
        await comm.send_json_to({"type": "join-room", "room": "leaderboard:all"})
        await next_of(comm, "room-joined")
        for _ in range(5):
            await sync_to_async(leaderboards.changed)("all", [user.id])
        first = await next_of(comm, "leaderboard-update", timeout=15)
        second = await next_of(comm, "leaderboard-update", timeout=15)
        assert first["period"] == second["period"] == "all" and second["id"] > first["id"]
        assert await comm.receive_nothing(timeout=0.8)  # five changes -> exactly two updates
        await comm.disconnect()

    run(main)

    def sent_by_worker():
        return [line for line in worker.output.splitlines()
                if "Task realtime.send_leaderboard_update[" in line and "succeeded" in line]

    deadline = time.monotonic() + 10
    while len(sent_by_worker()) < 2:  # the worker logs a job once it has run
        assert time.monotonic() < deadline, worker.output[-3000:]
        time.sleep(0.1)
    assert len(sent_by_worker()) == 2
