"""Publishing Celery jobs with the broker down: bounded wait, then the outbox, drained later."""

from __future__ import annotations

import time

import pytest

from deepiri import jobs
from deepiri.celery import app
from deepiri.models import OutboxJob
from deepiri.testing.faults import RedisServer

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def private_broker(settings):
    """Point the Celery app at a private redis-server (not eager); the app's own pools are put
    aside and given back untouched afterwards."""
    server = RedisServer().start()
    saved = app.conf.broker_url, app.conf.task_always_eager, app.conf.task_default_queue
    saved_pools = app._pool, app.amqp._producer_pool
    app.conf.broker_url = server.url(0)
    app.conf.task_always_eager = False
    app.conf.task_default_queue = "outbox-test"
    app._pool, app.amqp._producer_pool = None, None
    try:
        yield server
    finally:
        if app._pool is not None:
            app._pool.force_close_all()  # the private broker's connections
        app.conf.broker_url, app.conf.task_always_eager, app.conf.task_default_queue = saved
        app._pool, app.amqp._producer_pool = saved_pools
        server.stop()


def queued(server) -> int:
    from django.conf import settings

    return server.client().llen(f"{settings.REDIS_KEY_PREFIX}:celery:outbox-test")


def test_a_dead_broker_costs_about_a_second_and_the_job_waits_in_the_outbox(private_broker):
    from challenges.tasks import understand_task

    private_broker.kill()
    started = time.monotonic()
    assert jobs.enqueue(understand_task, "abc") is False
    assert time.monotonic() - started < 3.0
    kept = OutboxJob.objects.get()
    assert (kept.task, kept.args, kept.kwargs) == ("challenges.understand_task", ["abc"], {})
    assert kept.last_error

    assert jobs.drain_outbox() == {"published": 0, "failed": 1, "remaining": 1}  # still down
    assert OutboxJob.objects.get().attempts == 1

    private_broker.restart()  # the same pooled producer reconnects by itself
    assert jobs.drain_outbox() == {"published": 1, "failed": 0, "remaining": 0}
    assert queued(private_broker) == 1
    assert jobs.drain_outbox()["published"] == 0  # nothing is published twice


def test_with_the_broker_up_nothing_touches_the_outbox(private_broker):
    from challenges.tasks import understand_task

    assert jobs.enqueue(understand_task, "abc") is True
    assert queued(private_broker) == 1
    assert not OutboxJob.objects.exists()
