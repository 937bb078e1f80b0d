"""`make run`'s periodic jobs: Celery beat as a thread of the serving process.

With the embedded defaults (no REDIS_URL) there is no broker, Celery runs jobs eagerly, and
Redis, the cache and the channel layer are in-process stand-ins. So the scheduled jobs (syncs,
sweeps, reminders, the outbox drain) run where those stand-ins live: beat's own scheduler
(kernel.beat.DatabaseScheduler, the schedule staff edit in the admin) runs in a daemon thread of
the server, and a due job, being eager, runs in that thread. A separate beat process would see
another fakeredis and another in-memory channel layer: its socket pushes would reach nobody and
its Redis claims would not be the server's.

Started by deepiri/asgi.py when EMBEDDED_BEAT is on (scripts/run.sh turns it on); off everywhere
else, where `celery beat` is its own process.
"""

from __future__ import annotations

import logging
import threading

from celery.beat import EmbeddedService
from django.conf import settings

from deepiri.celery import app

logger = logging.getLogger("celery.beat")
_lock = threading.Lock()
_service = None


def start():
    """Start the scheduler thread once per process; its handle (None when EMBEDDED_BEAT is off)."""
    global _service
    if not settings.EMBEDDED_BEAT:
        return None
    with _lock:
        if _service is None:
            # what `celery beat` does at start: load every app's jobs, so a due one runs here
            # instead of being published to a broker nobody reads
            app.loader.import_default_modules()
            _service = EmbeddedService(app, thread=True, scheduler_cls="kernel.beat:DatabaseScheduler")
            _service.start()
            mode = "in this process (eager)" if settings.CELERY_TASK_ALWAYS_EAGER else "to the broker"
            logger.info("embedded beat started: periodic jobs run %s", mode)
    return _service
