"""The leaderboard-update gate costs one Redis round trip per change, whatever it decides."""

from __future__ import annotations

import threading

import pytest

from deepiri.redis import get_redis
from deepiri.testing.counting import count_redis_calls
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

    class Timer(threading.Timer):
        def start(self):
            started.append(self.interval)  # not run: the trailing flush is the coalescing test's

    monkeypatch.setattr(leaderboards.threading, "Timer", Timer)
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
