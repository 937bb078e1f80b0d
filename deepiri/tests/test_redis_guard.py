"""kernel.redis' guarded connections against a private redis-server that is frozen (SIGSTOP),
not killed: one timeout, then Redis is skipped at once until a probe finds it back; a request's
Redis time is bounded however many calls it makes."""

from __future__ import annotations

import time

import pytest
import redis

from devtools.testing.faults import RedisServer
from kernel import redis as guarded

pytestmark = [pytest.mark.services]


@pytest.fixture
def server():
    s = RedisServer().start()
    yield s
    s.thaw()
    s.stop()


@pytest.fixture
def fast(settings):
    settings.REDIS_SOCKET_TIMEOUT = 0.5
    settings.REDIS_CONNECT_TIMEOUT = 0.5
    settings.REDIS_BREAKER_SECONDS = 1.0
    settings.REDIS_REQUEST_BUDGET = 1.0
    guarded.breaker.reset()
    yield settings
    guarded.breaker.reset()


def client(server):
    pool = guarded.GuardedConnectionPool.from_url(server.url(0), socket_timeout=0.5, socket_connect_timeout=0.5)
    return redis.Redis(connection_pool=pool)


def test_a_frozen_redis_times_out_once_then_is_skipped_until_a_probe_finds_it(server, fast):
    r = client(server)
    assert r.ping()
    server.freeze()
    with pytest.raises(redis.exceptions.TimeoutError):
        r.get("a")  # the one call that waits (no retries inside redis-py)
    trips = guarded.breaker.trips
    for _ in range(20):  # every other call in this process fails at once, without asking
        with pytest.raises(guarded.RedisSkipped):
            r.get("a")
    assert guarded.breaker.trips == trips
    assert guarded.skipping()
    server.thaw()
    time.sleep(1.1)  # the breaker's time is up: the next call probes, and Redis answers
    assert r.set("a", "1")
    assert not guarded.skipping()
    assert r.get("a") == b"1"


def test_a_probe_into_a_still_frozen_redis_opens_the_breaker_again(server, fast):
    r = client(server)
    assert r.ping()
    server.freeze()
    with pytest.raises(redis.exceptions.TimeoutError):
        r.get("a")
    time.sleep(1.1)
    with pytest.raises(redis.exceptions.TimeoutError):
        r.get("a")  # the probe
    assert guarded.skipping()
    with pytest.raises(guarded.RedisSkipped):
        r.get("a")


def test_a_request_spends_at_most_its_redis_budget(server, fast):
    r = client(server)
    r.set("k", "v")
    with guarded.request_budget(0.3):
        r.eval("local t = redis.call('TIME') while true do local n = redis.call('TIME') "
               "if (n[1] - t[1]) * 1000000 + (n[2] - t[2]) > 400000 then return 1 end end", 0)
        with pytest.raises(guarded.RedisSkipped):
            r.get("k")  # the budget is spent: no further waiting on Redis in this request
    assert r.get("k") == b"v"  # another request has its own budget
    assert not guarded.skipping()  # slow is not hung: the process breaker stayed closed


@pytest.mark.django_db
def test_a_publish_to_a_frozen_broker_times_out_once_then_jobs_go_straight_to_the_outbox(private_broker, fast):
    from devtools.testing.faults import queued
    from kernel import jobs
    from kernel.models import OutboxJob

    fast.REDIS_URL = private_broker.url(0)  # the broker is the Redis every client uses, as deployed
    assert jobs.enqueue("deepiri.drain_outbox") is True
    assert queued(private_broker) == 1
    private_broker.freeze()
    try:
        assert jobs.enqueue("deepiri.drain_outbox") is False  # one socket timeout, no retries into it
        trips = guarded.breaker.trips
        assert trips >= 1 and guarded.skipping()
        for _ in range(5):  # the next jobs are not even tried: straight to the outbox
            assert jobs.enqueue("deepiri.drain_outbox") is False
        assert guarded.breaker.trips == trips
        assert OutboxJob.objects.count() == 6
    finally:
        private_broker.thaw()
