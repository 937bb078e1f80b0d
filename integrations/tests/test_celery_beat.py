"""A real Celery beat and a real worker against the fake GitHub and Redis: beat enqueues the
due sync (integrations.enqueue_due_syncs from CELERY_BEAT_SCHEDULE, via the DatabaseScheduler)
and the worker imports. Service-backed: needs PostgreSQL and Redis."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from devtools.testing.celery import _database_url
from integrations.models import Connection, SyncRun
from tasks.models import Task

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


class Beat:
    def __init__(self, queue: str, env: dict):
        self.lines: list[str] = []
        self.dir = tempfile.mkdtemp(prefix="beat-t6-")
        full_env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "TEST_DATABASE_NAME": "",
            "REDIS_URL": settings.REDIS_URL,
            "REDIS_KEY_PREFIX": settings.REDIS_KEY_PREFIX,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "CELERY_QUEUE": queue,
            "DJANGO_SETTINGS_MODULE": "deepiri.settings_test",
            "DB_CONN_MAX_AGE": "0",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "deepiri",
            "beat",
            "-l",
            "INFO",
            "--pidfile",
            os.path.join(self.dir, "beat.pid"),
            "--max-interval",
            "1",
        ]
        self.proc = subprocess.Popen(
            cmd,
            cwd=settings.BASE_DIR,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


def test_beat_enqueues_the_due_sync_and_the_worker_imports(make_user, github, celery_worker):
    user = make_user()
    ids = [github.add_issue(f"Scheduled {i}") for i in range(3)]
    token, _ = github.issue("ada", access_prefix="gho_", with_refresh=False)
    conn = Connection(
        user=user, service="github", auth_type="token", external_account_id="1001", external_account_name="ada"
    )
    conn.access_token = token
    conn.next_sync_at = timezone.now() - timedelta(minutes=1)
    conn.save()
    not_due = make_user()
    later = Connection(
        user=not_due, service="github", auth_type="token", next_sync_at=timezone.now() + timedelta(hours=1)
    )
    later.access_token = token
    later.save()

    env = {"GITHUB_API_BASE": github.url, "INTEGRATIONS_BEAT_SECONDS": "1"}
    worker = celery_worker(**env)
    beat = Beat(worker.queue, env)
    try:
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline:
            if (
                Task.objects.filter(user=user, source="github").count() == 3
                and SyncRun.objects.filter(connection=conn, status="succeeded").exists()
            ):
                break
            time.sleep(0.5)
        else:
            pytest.fail(
                "no scheduled import.\nbeat:\n" + "\n".join(beat.lines[-30:]) + "\nworker:\n" + worker.output[-4000:]
            )
    finally:
        beat.stop()
    run = SyncRun.objects.get(connection=conn)
    assert run.trigger == "schedule" and run.created_count == 3
    assert set(Task.objects.filter(user=user).values_list("source_id", flat=True)) == {str(i) for i in ids}
    assert not SyncRun.objects.filter(connection=later).exists()  # not due: not enqueued
    conn.refresh_from_db()
    assert conn.next_sync_at > timezone.now() + timedelta(minutes=50)  # the next one is an interval away
