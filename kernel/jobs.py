"""Handing work to Celery: jobs that must not be lost go through a transactional outbox, and no
request ever waits on a dead broker.

    enqueue_on_commit(task, *args, **kwargs)      a job that must not be lost: an outbox row written
                                                  IN the current transaction, published after commit
    outbox(task, args, kwargs, on_refused=fn)     the same; fn() does the work when the broker refuses
    enqueue(task, *args, **kwargs) -> bool        publish now; a refused job is kept in the outbox
    publish(task, args, kwargs) -> AsyncResult    publish now or raise: for a caller that reports the job
    drain_outbox(limit) -> dict                   the sweep (beat, every few seconds)
    rerun_outbox(rows) / rerun_failure(failure)   staff's "re-run" (the admin)

The outbox row of `enqueue_on_commit` commits or rolls back with the change that asked for the
job. An on_commit hook publishes it and stamps `published_at`; a process that dies between
COMMIT and that hook (or a broker that refuses) leaves the row unpublished, and the sweep
publishes it once it is older than OUTBOX_SWEEP_GRACE_SECONDS (so it never races the hook).
Every publish carries the row's id in a header; the worker (`OutboxTask.__call__`) claims the
row before running the job and deletes it after success, so a job published twice (hook and
sweep, a broker redelivery) has its effect once. A job that raised keeps its row, stamped
`failed_at` with the error, until staff re-run it.

Every published job also carries the request id and trace id of its caller (headers), restored
in the worker so its log lines join the request's. With eager Celery (no broker: the embedded
setup and most tests) the job runs inline, after commit.

Publishing is bounded (settings: a 1 s connect timeout, a 2 s socket timeout and two quick
retries, no result backend), so with Redis down a request spends about a second here, not
twenty; a publish to a hung broker trips kernel.redis' breaker, and while it is open jobs go
straight to the outbox.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import logging
import threading
import traceback as tb
from datetime import timedelta
from urllib.parse import urlsplit

from celery import Task, current_app
from celery.exceptions import Ignore, Reject, Retry
from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from redis import exceptions as redis_errors

from kernel import tracing
from kernel.logging import current_request_id, trace_id_var
from kernel.models import JobFailure, OutboxJob
from kernel.redis import RedisSkipped
from kernel.redis import breaker as redis_breaker
from kernel.redis import skipping as redis_skipping

logger = logging.getLogger(__name__)

OUTBOX_HEADER = "deepiri_outbox"
REQUEST_HEADER = "deepiri_request_id"
TRACE_HEADER = "deepiri_trace_id"


def _name(task) -> str:
    return task if isinstance(task, str) else task.name


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


_discovery_lock = threading.RLock()  # re-entrant: a task module may name a job as it loads


def task_named(name: str):
    """The registered Celery task `name` (KeyError when no app defines it)."""
    app = current_app
    if name not in app.tasks:
        # Celery discovers the apps' task modules lazily, in a worker only; a web process knows
        # just the jobs whose module some import already loaded. Load them all once. Under the
        # lock: Celery's discovery runs once per process, so a second thread asking while the
        # first is still importing would return at once and find its job missing (KeyError).
        with _discovery_lock:
            if name not in app.tasks:
                app.loader.import_default_modules()
    return app.tasks[name]


def context_headers() -> dict:
    """The caller's request id and trace id, for the job's log lines."""
    trace_id = tracing.current_trace_id()
    if trace_id == tracing.NO_TRACE:
        trace_id = trace_id_var.get()
    return {REQUEST_HEADER: current_request_id(), TRACE_HEADER: trace_id}


def publish(task, args: list | tuple = (), kwargs: dict | None = None, *, headers: dict | None = None):
    """Publish one job now and return its AsyncResult (raises when the broker is unreachable)."""
    if isinstance(task, str):
        task = task_named(task)
    headers = {**context_headers(), **(headers or {})}
    on_redis = _broker_is_the_redis()
    if on_redis and redis_skipping():
        raise RedisSkipped("job not published: the broker's Redis timed out moments ago")
    if not on_redis:
        return task.apply_async(args=list(args), kwargs=kwargs or {}, headers=headers)
    policy = {**current_app.conf.task_publish_retry_policy, "errback": _no_retry_into_a_hung_broker}
    return task.apply_async(args=list(args), kwargs=kwargs or {}, headers=headers, retry_policy=policy)


# ------------------------------------------------------------------------------ queueing
def enqueue_on_commit(task, *args, **kwargs):
    """Queue a job that must not be lost: its outbox row is written now, in the caller's
    transaction (raising with it when the database fails), and published once that commits.
    Outside a transaction the row commits at once and is published straight away."""
    return outbox(task, args, kwargs)


def outbox(task, args: list | tuple = (), kwargs: dict | None = None, *, on_refused=None):
    """`enqueue_on_commit` with a say in what happens when the broker refuses the job after
    commit: `on_refused()` does the work another way (the job's row is then dropped); without
    it the row waits for the sweep. Inside `batched_outbox()` the row is written when the
    block ends (its `pk` is unset until then)."""
    row = OutboxJob(task=_name(task), args=list(args), kwargs=kwargs or {}, headers=context_headers())
    pending = _outbox_batch.get()
    if pending is not None:
        pending.append((row, on_refused))
        return row
    row.save(force_insert=True)
    pk = row.pk
    transaction.on_commit(lambda: _publish_row(pk, on_refused))
    return row


_outbox_batch: contextvars.ContextVar[list | None] = contextvars.ContextVar("outbox_batch", default=None)


@contextlib.contextmanager
def batched_outbox():
    """Gather the outbox rows queued inside the block and write them in one INSERT when it
    ends, still inside the caller's transaction (use it within one): a batch of changes whose
    subscribers each queue a job then costs one statement, not one per change. An exception
    in the block drops the gathered rows (the transaction they belong to rolls back too)."""
    if _outbox_batch.get() is not None:  # nested: the outer block writes them
        yield
        return
    pending: list = []
    token = _outbox_batch.set(pending)
    try:
        yield
    finally:
        _outbox_batch.reset(token)
    if pending:
        OutboxJob.objects.bulk_create([row for row, _ in pending])
        for row, on_refused in pending:
            transaction.on_commit(functools.partial(_publish_row, row.pk, on_refused))


def enqueue(task, *args, **kwargs) -> bool:
    """Publish `task(*args, **kwargs)` now; on a broker failure keep it in the outbox for the
    sweep. True when published (or run inline with eager Celery). For jobs a periodic pass
    would queue again anyway; a job that must not be lost is `enqueue_on_commit`."""
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
    """Store a job the broker refused, for the sweep to publish (no grace: nobody else will)."""
    try:
        OutboxJob.objects.create(
            task=name, args=args, kwargs=kwargs, last_error=error[:300], attempts=1, headers=context_headers()
        )
    except DatabaseError:
        # PostgreSQL is down as well: the periodic sweeps (tasks without understanding,
        # challenges stuck generating) recover what matters.
        logger.exception("outbox: could not keep %s", name)


def _publish(row) -> None:
    """Publish one outbox row (raises when the broker refused it)."""
    publish(row.task, row.args, row.kwargs, headers={**(row.headers or {}), OUTBOX_HEADER: row.pk})


def _publish_row(pk: int, on_refused=None) -> None:
    """The after-commit hook of `enqueue_on_commit`. Never raises: the change committed, and a
    job the broker refused (or that failed inline) stays in the outbox for the sweep or staff."""
    try:
        row = OutboxJob.objects.filter(pk=pk).first()
        if row is None:
            return
        try:
            _publish(row)
        except Exception as exc:  # noqa: BLE001
            if current_app.conf.task_always_eager:
                # The job ran inline and raised (a retry, too: inline nobody would run it later).
                logger.warning("outbox: %s #%s failed inline: %r", row.task, pk, exc)
                cause = exc.exc if isinstance(exc, Retry) and isinstance(exc.exc, BaseException) else exc
                error, text = _summary(cause)
                OutboxJob.objects.filter(pk=pk, failed_at__isnull=True).update(
                    failed_at=timezone.now(), claimed_until=None, last_error=error, traceback=text
                )
                # Celery sends no failure signal for a job that raised inline: record it here.
                _record_row(task_named(row.task), f"inline-{pk}-{row.attempts}-{timezone.now().timestamp()}",
                            cause, row.args, row.kwargs, "failed", outbox_id=pk)
                return
            OutboxJob.objects.filter(pk=pk).update(attempts=F("attempts") + 1, last_error=str(exc)[:300])
            if on_refused is None:
                logger.warning("broker unavailable; %s #%s waits in the outbox: %s", row.task, pk, exc)
                return
            logger.warning("broker unavailable; %s #%s done another way: %s", row.task, pk, exc)
            try:
                on_refused()
            except Exception:
                logger.exception("outbox: the fallback of %s #%s failed; the job waits for the sweep", row.task, pk)
                return
            OutboxJob.objects.filter(pk=pk, claimed_until__isnull=True).delete()
            return
        OutboxJob.objects.filter(pk=pk, published_at__isnull=True).update(published_at=timezone.now())
    except DatabaseError:
        logger.exception("outbox: could not publish #%s; the sweep will", pk)


def drain_outbox(limit: int = 500) -> dict:
    """The sweep: publish, oldest first, the rows no hook published (the process died after
    COMMIT, or the broker refused), once older than the grace age; stop at the first broker
    failure (it is still down). Rows are claimed with SKIP LOCKED so two sweeps never publish
    the same row, and a row is stamped published in the same transaction."""
    published = failed = 0
    now = timezone.now()
    grace = now - timedelta(seconds=settings.OUTBOX_SWEEP_GRACE_SECONDS)
    due = Q(published_at__isnull=True, failed_at__isnull=True) & (Q(attempts__gt=0) | Q(created_at__lte=grace))
    # Published long ago and neither done, failed nor running: the broker lost the message (Redis
    # restarted empty) or the worker was killed past its lease. Published again; the claim keeps
    # a message that was only slow from running twice.
    lost = Q(
        published_at__lte=now - timedelta(seconds=settings.OUTBOX_REPUBLISH_SECONDS), failed_at__isnull=True
    ) & (Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
    due |= lost
    while published + failed < limit:
        with transaction.atomic():
            rows = list(OutboxJob.objects.select_for_update(skip_locked=True).filter(due).order_by("id")[:50])
            if not rows:
                break
            for row in rows:
                try:
                    _publish(row)
                except Exception as exc:  # noqa: BLE001
                    logger.warning("outbox: %s #%s not published: %r", row.task, row.pk, exc)
                    OutboxJob.objects.filter(pk=row.pk).update(attempts=row.attempts + 1, last_error=str(exc)[:300])
                    failed += 1
                    break
                OutboxJob.objects.filter(pk=row.pk).update(published_at=timezone.now())
                published += 1
            else:
                continue
            break
    remaining = OutboxJob.objects.filter(published_at__isnull=True, failed_at__isnull=True).count()
    if published or failed:
        logger.info("outbox: %d published, %d failed, %d remaining", published, failed, remaining)
    return {"published": published, "failed": failed, "remaining": remaining}


# ------------------------------------------------------------------------------ the worker side
def lease_for(task) -> timedelta:
    """How long a worker holds a row: the job's hard time limit and a margin (a duplicate
    arriving meanwhile is skipped), but below the broker's visibility timeout, after which the
    broker hands the message of a worker that died mid-job to another, which must then run it."""
    limit = (getattr(task, "time_limit", None) or settings.CELERY_TASK_TIME_LIMIT) + 30
    return timedelta(seconds=max(1.0, min(limit, settings.CELERY_VISIBILITY_TIMEOUT * 0.8)))


def claim(pk: int, lease: timedelta | None = None) -> bool:
    """The worker takes the outbox row before running its job: False when the job already ran
    (the row is gone), failed (staff re-run it), or runs elsewhere right now."""
    now = timezone.now()
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    return bool(
        OutboxJob.objects.filter(free, pk=pk, failed_at__isnull=True).update(
            claimed_until=now + (lease or lease_for(None)), runs=Coalesce(F("runs"), 0) + 1,
            published_at=Coalesce(F("published_at"), now),
        )
    )


def _summary(exc: BaseException) -> tuple[str, str]:
    text = "".join(tb.format_exception(type(exc), exc, exc.__traceback__))
    return f"{type(exc).__name__}: {exc}"[:300], text[-settings.JOBS_TRACEBACK_CHARS:]


class OutboxTask(Task):
    """The base of every job (the Celery app's `task_cls`): a job published from the outbox
    runs once per row."""

    def __call__(self, *args, **kwargs):
        pk = _header(self.request, OUTBOX_HEADER)
        if pk is None:
            return super().__call__(*args, **kwargs)
        if not claim(pk, lease_for(self)):
            logger.info("outbox: %s #%s already ran or is running; skipped", self.name, pk)
            return None
        try:
            result = super().__call__(*args, **kwargs)
        except (Retry, Reject):
            OutboxJob.objects.filter(pk=pk).update(claimed_until=None)  # the next attempt claims it again
            raise
        except Ignore:
            OutboxJob.objects.filter(pk=pk).delete()
            raise
        except BaseException as exc:
            error, text = _summary(exc)
            try:
                OutboxJob.objects.filter(pk=pk).update(
                    failed_at=timezone.now(), claimed_until=None, last_error=error, traceback=text
                )
            except DatabaseError:  # the job's own error is the one to report
                logger.warning("outbox: could not mark #%s failed", pk, exc_info=True)
            raise
        OutboxJob.objects.filter(pk=pk).delete()
        return result


def _header(request, name: str):
    value = request.get(name) if hasattr(request, "get") else None
    if value is None:
        value = (getattr(request, "headers", None) or {}).get(name)
    return value


# ------------------------------------------------------------------------------ staff
def rerun_outbox(rows) -> int:
    """Publish outbox rows again now (failed ones included): clears failure and claim. Rows the
    broker refuses stay waiting for the sweep. Returns how many were published."""
    done = 0
    for row in rows:
        OutboxJob.objects.filter(pk=row.pk).update(failed_at=None, claimed_until=None, published_at=None)
        try:
            _publish(row)
        except Exception as exc:  # noqa: BLE001
            OutboxJob.objects.filter(pk=row.pk).update(attempts=F("attempts") + 1, last_error=str(exc)[:300])
            continue
        OutboxJob.objects.filter(pk=row.pk, published_at__isnull=True).update(published_at=timezone.now())
        done += 1
    return done


def rerun_failure(failure) -> None:
    """Queue a failed job again with its arguments (through the outbox: it runs once)."""
    with transaction.atomic():
        if failure.outbox_id and OutboxJob.objects.filter(pk=failure.outbox_id).exists():
            row = OutboxJob.objects.get(pk=failure.outbox_id)
            transaction.on_commit(lambda: rerun_outbox([row]))
        else:
            enqueue_on_commit(failure.task, *failure.args, **failure.kwargs)
        JobFailure.objects.filter(pk=failure.pk).update(state=JobFailure.State.RERUN)


# ------------------------------------------------------------------------------ signals
def record_failure(sender=None, task_id=None, exception=None, args=None, kwargs=None, einfo=None, **_):
    """Celery's task_failure: the job, its arguments and the error, for staff."""
    _record(sender, task_id, exception, args, kwargs, "failed")


def record_retry(sender=None, request=None, reason=None, einfo=None, **_):
    """Celery's task_retry: the job is being retried; the reason is kept."""
    exc = reason if isinstance(reason, BaseException) else None
    if isinstance(exc, Retry) and isinstance(exc.exc, BaseException):
        exc = exc.exc  # the error that made the job retry
    if exc is None and einfo is not None:
        exc = einfo.exception
    _record(sender, request.id if request else None, exc, getattr(request, "args", None),
            getattr(request, "kwargs", None), "retrying", error=None if exc else str(reason))


def _record(task, task_id, exc, args, kwargs, state, error=None) -> None:
    if not task_id or task is None:
        return
    outbox_id = _header(task.request, OUTBOX_HEADER) if getattr(task, "request", None) else None
    _record_row(task, task_id, exc, args, kwargs, state, error=error, outbox_id=outbox_id)


def _record_row(task, task_id, exc, args, kwargs, state, *, error=None, outbox_id=None) -> None:
    if exc is not None:
        error, text = _summary(exc)
        exception = type(exc).__name__
    else:
        text, exception = "", ""
    now = timezone.now()
    try:
        failure, created = JobFailure.objects.get_or_create(
            task_id=str(task_id),
            defaults={
                "task": task.name, "args": _jsonable(args or []), "kwargs": _jsonable(kwargs or {}), "state": state,
                "exception": exception[:200], "error": (error or "")[:1000], "traceback": text,
                "outbox_id": outbox_id, "request_id": current_request_id()[:64], "last_seen": now,
            },
        )
        if not created:
            JobFailure.objects.filter(pk=failure.pk).update(
                state=state, exception=exception[:200], error=(error or "")[:1000], traceback=text,
                attempts=F("attempts") + 1, last_seen=now,
            )
    except DatabaseError:
        logger.warning("could not record the %s job %s %s", state, task.name, task_id, exc_info=True)


def _jsonable(value):
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return json.loads(json.dumps(value, default=str))


def cleanup_failures(now=None) -> int:
    """Forget failed-job records older than the retention (a delete by age: safe to run twice)."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.JOBS_FAILURE_RETENTION_DAYS)
    deleted, _ = JobFailure.objects.filter(last_seen__lt=cutoff).delete()
    return deleted


def runs_inline() -> bool:
    """True when Celery runs jobs eagerly in the caller (no broker: the embedded setup and most
    tests), for a caller that answers differently then (a sync run inline instead of queued).
    Asked of the current Celery app, so apps need not import the project's celery module."""
    return bool(current_app.conf.task_always_eager)
