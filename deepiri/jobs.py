"""Handing work to Celery without ever making a request wait on a dead broker.

    enqueue(task, *args, **kwargs) -> bool        publish now; True when the broker took it
    publish(task, args, kwargs) -> AsyncResult    publish now or raise: for a caller that reports the job
    enqueue_on_commit(task, *args, **kwargs)      the same, once the current transaction commits
    drain_outbox(limit) -> dict                   the beat job: publish what the broker refused

Publishing is bounded (settings: a 1 s connect timeout, a 2 s socket timeout and two quick
retries, no result backend), so with Redis down a request spends about a second here, not
twenty; a publish to a hung broker trips deepiri.redis' breaker, and while it is open jobs go
straight to the outbox. A job the
broker refused is written to the `OutboxJob` table and published by `deepiri.drain_outbox`
(every 30 s) once the broker is back. Jobs must be idempotent: one
may be published twice (a crash between publishing and deleting its outbox row).
With eager Celery (no broker: the embedded setup and most tests) the job runs inline.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from celery import current_app
from django.conf import settings
from django.db import DatabaseError, transaction
from redis import exceptions as redis_errors

from deepiri.redis import RedisSkipped
from deepiri.redis import breaker as redis_breaker
from deepiri.redis import skipping as redis_skipping

logger = logging.getLogger(__name__)


def _name(task) -> str:
    return task if isinstance(task, str) else task.name


def publish(task, args: list | tuple = (), kwargs: dict | None = None):
    """Publish one job now and return its AsyncResult (raises when the broker is unreachable)."""
    if isinstance(task, str):
        task = task_named(task)
    on_redis = _broker_is_the_redis()
    if on_redis and redis_skipping():
        raise RedisSkipped("job not published: the broker's Redis timed out moments ago")
    if not on_redis:
        return task.apply_async(args=list(args), kwargs=kwargs or {})
    policy = {**current_app.conf.task_publish_retry_policy, "errback": _no_retry_into_a_hung_broker}
    return task.apply_async(args=list(args), kwargs=kwargs or {}, retry_policy=policy)


def _no_retry_into_a_hung_broker(exc, interval):
    """kombu's retry hook: a refused connection is retried (quickly), a timeout is not. A hung
    broker is the Redis every other client here uses, so this process skips it for a while."""
    if isinstance(exc, (redis_errors.TimeoutError, TimeoutError)):
        redis_breaker.timed_out()
        raise exc


def _broker_is_the_redis() -> bool:
    """Whether jobs are published to the server of REDIS_URL (the deployed shape)."""
    conf = current_app.conf
    if conf.task_always_eager or not settings.REDIS_URL or not str(conf.broker_url).startswith("redis"):
        return False
    return urlsplit(str(conf.broker_url)).netloc == urlsplit(settings.REDIS_URL).netloc


def task_named(name: str):
    """The registered Celery task `name` (KeyError when no app defines it)."""
    app = current_app
    if name not in app.tasks:
        # Celery discovers the apps' task modules lazily, in a worker only; a web process knows
        # just the jobs whose module some import already loaded. Load them all once.
        app.loader.import_default_modules()
    return app.tasks[name]


def enqueue(task, *args, **kwargs) -> bool:
    """Publish `task(*args, **kwargs)`; on a broker failure keep it in the outbox. True when
    published (or run inline with eager Celery)."""
    try:
        publish(task, args, kwargs)
        return True
    except Exception as exc:  # noqa: BLE001 - kombu/redis raise many types; all mean "not published"
        if current_app.conf.task_always_eager:
            raise  # the job itself failed inline; nothing to keep for later
        logger.warning("broker unavailable; %s kept in the outbox: %s", _name(task), exc)
        keep(_name(task), list(args), kwargs, str(exc))
        return False


def keep(name: str, args: list, kwargs: dict, error: str) -> None:
    """Store a job for `drain_outbox` to publish later."""
    from deepiri.models import OutboxJob

    try:
        OutboxJob.objects.create(task=name, args=args, kwargs=kwargs, last_error=error[:300])
    except DatabaseError:
        # PostgreSQL is down as well: the periodic sweeps (tasks without understanding,
        # challenges stuck generating) recover what matters.
        logger.exception("outbox: could not keep %s", name)


def enqueue_on_commit(task, *args, **kwargs) -> None:
    transaction.on_commit(lambda: enqueue(task, *args, **kwargs))


def drain_outbox(limit: int = 500) -> dict:
    """Publish kept jobs oldest first; stop at the first broker failure (it is still down).
    Rows are claimed with SKIP LOCKED so two drains never publish the same row."""
    from deepiri.models import OutboxJob

    published = failed = 0
    while published + failed < limit:
        with transaction.atomic():
            rows = list(OutboxJob.objects.select_for_update(skip_locked=True).order_by("id")[:50])
            if not rows:
                break
            for row in rows:
                try:
                    publish(row.task, row.args, row.kwargs)
                except Exception as exc:  # noqa: BLE001
                    logger.warning("outbox: %s #%s not published: %r", row.task, row.pk, exc)
                    OutboxJob.objects.filter(pk=row.pk).update(attempts=row.attempts + 1, last_error=str(exc)[:300])
                    failed += 1
                    break
                row.delete()
                published += 1
            else:
                continue
            break
    remaining = OutboxJob.objects.count()
    if published or failed:
        logger.info("outbox: %d published, %d failed, %d remaining", published, failed, remaining)
    return {"published": published, "failed": failed, "remaining": remaining}
