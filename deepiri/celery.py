"""The Celery app: configured from Django settings under the CELERY_ namespace."""

import json
import logging
import logging.config
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import celery.apps.worker
from celery import Celery
from celery.signals import (
    before_task_publish,
    celeryd_after_setup,
    celeryd_init,
    setup_logging,
    task_failure,
    task_postrun,
    task_prerun,
    task_retry,
    worker_init,
)
from django.conf import settings
from django.db import close_old_connections

from kernel import runtime, tracing
from kernel.logging import request_id_var, trace_id_var

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deepiri.settings")


def _starting_service() -> str | None:
    """"worker" or "beat" when this process is `celery ... worker|beat` starting up, else None
    (the web processes and manage.py import this module too)."""
    program = Path(sys.argv[0])
    if program.name != "celery" and program.parent.name != "celery":  # `celery` or `python -m celery`
        return None
    return next((arg for arg in sys.argv[1:] if arg in ("worker", "beat")), None)


# A worker or beat whose configuration cannot work stops with one line (kernel/config.py) instead
# of failing every job. Checked here, as the app module is imported: Celery's command line reads
# settings for its option defaults, and its Django fixup runs django.setup(), before worker_init
# or beat_init are sent, and either would fail first with a traceback.
if _service := _starting_service():
    from kernel import config

    config.check_or_exit(_service)


# Every job runs through kernel.jobs.OutboxTask: a job published from the outbox runs once.
app = Celery("deepiri", task_cls="kernel.jobs:OutboxTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@celeryd_init.connect
@setup_logging.connect
def _django_logging(**kwargs):
    """Workers log like the web processes (settings.LOGGING: JSON lines with request, user and
    trace ids) instead of Celery's own format, so their lines can be joined to a request. Also
    at celeryd_init, before the worker's first warnings (e.g. running as root)."""
    logging.config.dictConfig(settings.LOGGING)
    logging.captureWarnings(True)  # kombu's and Celery's warnings are log lines too, not raw stderr


def _say_as_json(msg, f=sys.__stderr__):
    """Celery's worker writes its shutdown notices straight to a file descriptor from signal
    handlers (no logging there: its locks may be held). The same, as one JSON line."""
    line = json.dumps({
        "asctime": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S,%f")[:-3], "levelname": "WARNING",
        "name": "celery.apps.worker", "message": str(msg).strip(), "request_id": "-", "user_id": "-", "trace_id": "-",
    })
    try:
        os.write(f.fileno(), (line + "\n").encode())
    except (OSError, ValueError):
        pass  # a notice lost must never abort a shutdown


@celeryd_init.connect
def _json_notices(**kwargs):
    celery.apps.worker.safe_say = _say_as_json


@celeryd_after_setup.connect
def _no_banner(sender=None, instance=None, conf=None, **kwargs):
    """The worker's start-up banner is plain text printed to stdout: say the same in one JSON log
    line instead, so everything a worker writes parses as JSON. (Beat is started with --quiet.)"""
    if instance is None:
        return
    instance.quiet = True
    queues = sorted(q.name for q in (getattr(instance.app.amqp.queues, "consume_from", None) or {}).values())
    logging.getLogger("celery.apps.worker").info(
        "worker %s starting: pool %s, concurrency %s, queues %s", sender, getattr(instance.pool_cls, "__module__", "?"),
        instance.concurrency, ",".join(queues) or "-",
    )


@worker_init.connect
def _start_tracing(**kwargs):
    """A worker traces its tasks when OTEL_ is configured. Set up before the pool forks: the
    SDK's batch exporter restarts its thread in each child. What the worker has loaded by then
    is kept out of garbage collection (kernel.runtime), in the children too."""
    tracing.setup("worker")
    runtime.settle(load_urls=False)


@task_prerun.connect
@task_postrun.connect
def _close_old_connections(task=None, **kwargs):
    """Each job starts and ends like a request: a connection past CONN_MAX_AGE, broken, or left
    outside autocommit is closed, and the next query checks it first (CONN_HEALTH_CHECKS).
    Celery's fixup no longer does this and would close every connection instead
    (CELERY_DB_REUSE_MAX in settings). An eager job runs inside its caller's transaction, which
    must not be touched."""
    if task is not None and getattr(task.request, "is_eager", False):
        return

    close_old_connections()


@before_task_publish.connect
def _carry_request_context(headers=None, **kwargs):
    """Every published job carries its caller's request id and trace id (also `.delay()`)."""
    if headers is None:
        return
    from kernel import jobs  # noqa: PLC0415 - jobs imports models; this module loads before Django is set up

    for name, value in jobs.context_headers().items():
        headers.setdefault(name, value)


@task_prerun.connect
def _restore_request_context(task=None, **kwargs):
    """The worker's log lines carry the request id and trace id of whoever queued the job."""
    if task is None or getattr(task.request, "is_eager", False):
        return  # inline: the caller's context is already current
    from kernel import jobs  # noqa: PLC0415 - jobs imports models; this module loads before Django is set up

    request_id = jobs._header(task.request, jobs.REQUEST_HEADER) or "-"
    trace_id = jobs._header(task.request, jobs.TRACE_HEADER) or "-"
    task.request._deepiri_context = (request_id_var.set(str(request_id)[:64]), trace_id_var.set(str(trace_id)[:64]))


@task_postrun.connect
def _forget_request_context(task=None, **kwargs):
    tokens = getattr(getattr(task, "request", None), "_deepiri_context", None) if task is not None else None
    if not tokens:
        return

    request_id_var.reset(tokens[0])
    trace_id_var.reset(tokens[1])
    task.request._deepiri_context = None


@task_failure.connect
def _record_failure(**kwargs):
    """Staff see every failed job in the admin (kernel.models.JobFailure)."""
    from kernel import jobs  # noqa: PLC0415 - jobs imports models; this module loads before Django is set up

    jobs.record_failure(**kwargs)


@task_retry.connect
def _record_retry(**kwargs):
    from kernel import jobs  # noqa: PLC0415 - jobs imports models; this module loads before Django is set up

    jobs.record_retry(**kwargs)
