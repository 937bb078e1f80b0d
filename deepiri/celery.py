"""The Celery app: configured from Django settings under the CELERY_ namespace."""

import os
import sys
from pathlib import Path

from celery import Celery
from celery.signals import setup_logging, task_postrun, task_prerun, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deepiri.settings")


def _starting_service() -> str | None:
    """"worker" or "beat" when this process is `celery ... worker|beat` starting up, else None
    (the web processes and manage.py import this module too)."""
    program = Path(sys.argv[0])
    if program.name != "celery" and program.parent.name != "celery":  # `celery` or `python -m celery`
        return None
    return next((arg for arg in sys.argv[1:] if arg in ("worker", "beat")), None)


# A worker or beat whose configuration cannot work stops with one line (deepiri/config.py) instead
# of failing every job. Checked here, as the app module is imported: Celery's command line reads
# settings for its option defaults, and its Django fixup runs django.setup(), before worker_init
# or beat_init are sent, and either would fail first with a traceback.
if _service := _starting_service():
    from deepiri import config

    config.check_or_exit(_service)


app = Celery("deepiri")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def _django_logging(**kwargs):
    """Workers log like the web processes (settings.LOGGING: JSON lines with request, user and
    trace ids) instead of Celery's own format, so their lines can be joined to a request."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@worker_init.connect
def _start_tracing(**kwargs):
    """A worker traces its tasks when OTEL_ is configured. Set up before the pool forks: the
    SDK's batch exporter restarts its thread in each child. What the worker has loaded by then
    is kept out of garbage collection (deepiri.runtime), in the children too."""
    from deepiri import runtime, tracing

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
    from django.db import close_old_connections

    close_old_connections()
