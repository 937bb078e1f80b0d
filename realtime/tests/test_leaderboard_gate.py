"""The leaderboard-update gate costs one Redis round trip per change, whatever it decides."""

from __future__ import annotations

import threading
import time

import pytest

from devtools.testing.counting import count_redis_calls
from kernel.redis import get_redis
from realtime import leaderboards

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_calls(monkeypatch):
    with count_redis_calls(monkeypatch) as calls:
        yield calls


@pytest.fixture
def flushes(monkeypatch):
    sent: list[str] = []
    monkeypatch.setattr(leaderboards, "flush", lambda period: sent.append(period) or True)
    return sent


@pytest.fixture
def timers(monkeypatch):
    started: list[float] = []
    # recorded, not run: the trailing flush is the coalescing test's
    monkeypatch.setattr(leaderboards._Trailer, "schedule", lambda self, period, delay: started.append(delay))
    return started


def test_send_now_then_one_trailing_update_each_in_one_round_trip(redis_calls, flushes, timers):
    period = "gate-test"
    r = get_redis()
    r.delete(leaderboards._pending_key(period), leaderboards._gate_key(period), leaderboards._trail_key(period))
    redis_calls.clear()

    leaderboards.changed(period, ["u1"])
    assert flushes == [period] and timers == [] and redis_calls == ["EVAL"]

    leaderboards.changed(period, ["u2", "u3"])  # within the interval: a trailing update is scheduled
    assert flushes == [period] and len(timers) == 1 and 0 < timers[0] <= leaderboards.LEADERBOARD_MIN_INTERVAL
    leaderboards.changed(period, ["u4"])  # already scheduled: nothing more
    assert len(timers) == 1 and redis_calls == ["EVAL"] * 3

    assert r.smembers(leaderboards._pending_key(period)) == {"u1", "u2", "u3", "u4"}  # flush was replaced
    assert 0 < r.ttl(leaderboards._pending_key(period)) <= 60
    r.delete(leaderboards._pending_key(period), leaderboards._gate_key(period), leaderboards._trail_key(period))


@pytest.mark.django_db(transaction=True)
def test_trailing_updates_share_one_database_connection_and_give_it_back_when_idle(user):
    """Trailing updates come from one thread per process that keeps its connection while they
    keep coming (a thread per update opened a PostgreSQL session each time) and closes it once
    idle."""
    from django.db.backends.signals import connection_created

    from devtools.testing.channels import GroupListener
    from gamification.tests.helpers import give
    from realtime.publisher import room_group

    give(user, 10)  # on the board: its update names the user, read from PostgreSQL
    period = "week"
    r = get_redis()
    r.delete(leaderboards._pending_key(period), leaderboards._gate_key(period), leaderboards._trail_key(period))
    opened: list[tuple[str, object]] = []

    def on_connect(sender, connection, **kwargs):
        opened.append((threading.current_thread().name, connection))

    connection_created.connect(on_connect)
    try:
        with GroupListener(room_group(f"leaderboard:{period}")) as listener:
            for _ in range(3):  # each round: one update at once, one trailing update half a second later
                leaderboards.changed(period, [user.id])
                leaderboards.changed(period, [user.id])
                time.sleep(2 * leaderboards.LEADERBOARD_MIN_INTERVAL + 0.2)  # the trailing update's gate too
            updates = [e for e in listener.events(timeout=3, quiet=0.6) if e["type"] == "leaderboard-update"]
        assert len(updates) == 6
        trailer_connections = [conn for name, conn in opened if name != threading.current_thread().name]
        assert len(trailer_connections) == 1  # three trailing updates, one session
        deadline = time.monotonic() + leaderboards.IDLE_CLOSE_SECONDS + 3
        while trailer_connections[0].connection is not None:
            assert time.monotonic() < deadline, "the idle trailer kept its connection"
            time.sleep(0.05)
    finally:
        connection_created.disconnect(on_connect)
