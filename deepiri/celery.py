"""The Celery app: configured from Django settings under the CELERY_ namespace."""

import os

from celery import Celery
from celery.signals import setup_logging, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deepiri.settings")

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
    SDK's batch exporter restarts its thread in each child."""
    from deepiri import tracing

    tracing.setup("worker")
