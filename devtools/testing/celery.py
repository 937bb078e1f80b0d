"""Celery in tests: inline by default, or a REAL worker process when a test asks for one.

    from devtools.testing.celery import eager_celery, celery_worker  # in an app's conftest.py

- ``eager_celery`` (autouse where imported): tasks run inline in the calling process
  (`task_always_eager`), even when REDIS_URL is set, so ordinary tests never leave work on a
  broker nobody consumes.
- ``celery_worker``: a factory. ``celery_worker(**env)`` starts
  ``python -m celery -A deepiri worker -P solo`` as a subprocess against the same test database
  (the one pytest-django created) and the same Redis, on a queue of its own, waits until it is
  ready, and stops it after the test. Extra ``env`` (e.g. ``AI_SERVICE_URL``) is passed to the
  worker. Use it from ``@pytest.mark.django_db(transaction=True)`` tests: the worker is another
  process and only sees committed rows. Needs PostgreSQL and Redis (mark the test
  ``services``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from deepiri.celery import app

READY_TIMEOUT = 60


@pytest.fixture(autouse=True)
def eager_celery(request):
    if "celery_worker" in request.fixturenames:
        yield
        return
    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    try:
        yield
    finally:
        app.conf.task_always_eager, app.conf.task_eager_propagates = saved


def _database_url() -> str:
    db = connection.settings_dict
    if not db["ENGINE"].endswith("postgresql"):
        raise RuntimeError("a real Celery worker needs PostgreSQL (SQLite test databases are in memory)")
    auth = quote(db.get("USER") or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or "5432"
    return f"postgres://{auth}@{host}:{port}/{db['NAME']}"


class WorkerProcess:
    """`pool="prefork"` (with `concurrency`) runs jobs in child processes, as production does;
    the default solo pool runs them in the worker's own process. `kill()` is a SIGKILL."""

    def __init__(self, env: dict[str, str], *, pool: str = "solo", concurrency: int = 1):
        self.queue = str(env.get("CELERY_QUEUE") or f"test-{uuid.uuid4().hex[:10]}")
        self.lines: list[str] = []
        self._ready = threading.Event()
        full_env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "TEST_DATABASE_NAME": "",
            "REDIS_URL": settings.REDIS_URL,
            "REDIS_KEY_PREFIX": settings.REDIS_KEY_PREFIX,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "CELERY_QUEUE": self.queue,
            "DJANGO_SETTINGS_MODULE": "deepiri.settings_test",
            "DB_CONN_MAX_AGE": "0",
            "PYTHONUNBUFFERED": "1",
            **{k: str(v) for k, v in env.items()},
        }
        cmd = [
            sys.executable, "-m", "celery", "-A", "deepiri", "worker", "-P", pool, "-c", str(concurrency), "-Q", self.queue,
            "-n", f"{self.queue}@%h", "-l", "INFO", "--without-heartbeat", "--without-gossip", "--without-mingle",
        ]
        self.proc = subprocess.Popen(
            cmd, cwd=settings.BASE_DIR, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())
            if " ready." in line:
                self._ready.set()

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("Celery worker did not start:\n" + "\n".join(self.lines[-40:]))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the worker and its pool children (a crash: nothing is acknowledged)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._reader.join(2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # warm shutdown
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._reader.join(2)


@pytest.fixture
def celery_worker(transactional_db):
    """Factory: ``worker = celery_worker(AI_SERVICE_URL=...)`` -> a ready WorkerProcess."""
    if not (settings.REDIS_URL and settings.USING_POSTGRES):
        pytest.skip("a real Celery worker needs PostgreSQL and Redis")
    workers: list[WorkerProcess] = []
    saved = app.conf.task_always_eager, app.conf.task_default_queue

    def start(**env) -> WorkerProcess:
        worker = WorkerProcess(env)
        workers.append(worker)
        worker.wait_ready()
        app.conf.task_always_eager = False
        app.conf.task_default_queue = worker.queue
        return worker

    try:
        yield start
    finally:
        for worker in workers:
            worker.stop()
        app.conf.task_always_eager, app.conf.task_default_queue = saved
