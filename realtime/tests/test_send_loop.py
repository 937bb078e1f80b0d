"""Sends from sync code (requests, Celery tasks, timer threads) go through one event loop per
process, so the channel layer's Redis connection is reused instead of opened for every send."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from channels.layers import get_channel_layer

from devtools.testing.faults import RedisServer
from realtime import publisher


@pytest.fixture
def private_redis():
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def redis_layer(settings, private_redis):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [private_redis.url()], "prefix": "send-loop-test"},
        }
    }
    return get_channel_layer()


def connections_received(server: RedisServer) -> int:
    return int(server.client().info("stats")["total_connections_received"])


def send_from_threads(group: str, count: int) -> None:
    errors: list[BaseException] = []

    def send(i: int) -> None:
        try:
            publisher.sending.group_send(group, {"type": "rt.test", "n": i})
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    for i in range(count):  # one thread per send, as a timer or a request thread would be
        thread = threading.Thread(target=send, args=(i,))
        thread.start()
        thread.join()
    assert errors == []


def receive(layer, group: str, count: int, start_sending) -> list[int]:
    async def run():
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        await asyncio.get_running_loop().run_in_executor(None, start_sending)
        got = [(await asyncio.wait_for(layer.receive(channel), 5))["n"] for _ in range(count)]
        await layer.group_discard(group, channel)
        return got

    return asyncio.run(run())


def test_sends_from_plain_threads_share_one_loop_and_connection(redis_layer, private_redis):
    publisher.sending.group_send("warm", {"type": "rt.test", "n": -1})  # the loop's first connection
    before = connections_received(private_redis)
    got = receive(redis_layer, "send-loop", 20, lambda: send_from_threads("send-loop", 20))
    assert got == list(range(20))  # every send delivered, in order
    # the receiver's own connections and nothing per send (a new event loop per send made 20)
    assert connections_received(private_redis) - before <= 3


def test_sends_resume_after_redis_restarts(redis_layer, private_redis):
    publisher.sending.group_send("warm", {"type": "rt.test", "n": -1})
    private_redis.restart()
    got = receive(redis_layer, "after-restart", 3, lambda: send_from_threads("after-restart", 3))
    assert got == [0, 1, 2]


def test_a_layer_that_hangs_releases_the_caller(redis_layer, monkeypatch):
    async def never(group, message):
        await asyncio.sleep(3600)

    monkeypatch.setattr(redis_layer, "group_send", never)
    monkeypatch.setattr(publisher.sending, "SEND_TIMEOUT_SECONDS", 0.2)
    with pytest.raises(TimeoutError):
        publisher.sending.group_send("stuck", {"type": "rt.test"})

    def stuck() -> list:
        return [t for t in asyncio.all_tasks(publisher.send_loop()) if t.get_coro().__name__ == "never"]

    deadline = time.monotonic() + 2
    while stuck() and time.monotonic() < deadline:  # the cancellation reaches the loop's thread
        time.sleep(0.01)
    assert stuck() == []  # cancelled, not left to pile up on the loop
