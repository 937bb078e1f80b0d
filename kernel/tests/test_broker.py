"""The broker transport (kernel/broker.py) against a private redis-server that hangs (SIGSTOP)
while a delivered message is acknowledged: consuming goes on after the thaw, and the removal
from Redis' unacked index is sent again (the hung server may or may not have applied the first),
so the message is not delivered again after the visibility timeout."""

from __future__ import annotations

import logging

import pytest
from kombu import Connection, Exchange, Queue

from devtools.testing.faults import RedisServer

pytestmark = [pytest.mark.services]

PREFIX = "broker-test:"


@pytest.fixture
def server():
    s = RedisServer().start()
    yield s
    s.thaw()
    s.stop()


def broker(server, transport="kernel.broker:Transport"):
    return Connection(server.url(0), transport=transport, transport_options={
        "socket_timeout": 0.5, "socket_connect_timeout": 0.5, "global_keyprefix": PREFIX,
        "visibility_timeout": 3600,
    })


def consume_one_ack_while_frozen(server, transport) -> tuple[list, Connection]:
    """Deliver one message (prefetch 1, as a worker's slot), ack it while Redis is hung the way
    Celery does (the error is logged, never raised), thaw, publish a second one and try to
    receive it. Returns the messages received and the open connection."""
    conn = broker(server, transport)
    queue = Queue("jobs", Exchange("jobs", type="direct"), routing_key="jobs")
    received = []
    consumer = conn.Consumer(queue, callbacks=[lambda body, message: received.append(message)], prefetch_count=1)
    consumer.consume()
    producer = conn.Producer()
    producer.publish({"n": 1}, exchange=queue.exchange, routing_key="jobs", declare=[queue])
    conn.drain_events(timeout=5)
    assert len(received) == 1
    server.freeze()
    try:
        received[0].ack_log_error(logging.getLogger("test"), conn.connection_errors)
    finally:
        server.thaw()
    producer.publish({"n": 2}, exchange=queue.exchange, routing_key="jobs")
    try:
        conn.drain_events(timeout=3)
    except TimeoutError:
        pass
    return received, conn


def unacked(server) -> int:
    return server.client().hlen(PREFIX + "unacked")


def test_stock_transport_stops_consuming_after_an_ack_lost_to_a_hung_broker(server):
    """What the worker did before: the lost ack keeps the prefetch slot taken, for good."""
    received, conn = consume_one_ack_while_frozen(server, "redis")
    try:
        assert len(received) == 1
        assert not conn.default_channel.qos.can_consume()
    finally:
        conn.release()


def test_an_ack_lost_to_a_hung_broker_does_not_stop_consuming(server):
    received, conn = consume_one_ack_while_frozen(server, "kernel.broker:Transport")
    try:
        assert [m.payload["n"] for m in received] == [1, 2]
        qos = conn.default_channel.qos
        assert qos._unconfirmed == {received[0].delivery_tag}
        received[1].ack()
        assert qos._unconfirmed == set()  # the lost ack was sent again with the next one
        assert unacked(server) == 0
    finally:
        conn.release()


def test_a_lost_ack_is_confirmed_before_the_visibility_sweep(server):
    received, conn = consume_one_ack_while_frozen(server, "kernel.broker:Transport")
    try:
        qos = conn.default_channel.qos
        assert qos._unconfirmed == {received[0].delivery_tag}
        qos.restore_visible(num=10, interval=1)
        assert qos._unconfirmed == set()
        assert unacked(server) == 1  # the second, delivered and not acknowledged, stays
        assert server.client().llen(PREFIX + "jobs") == 0  # nothing was put back on the queue
    finally:
        conn.release()
