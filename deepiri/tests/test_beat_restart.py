"""Beat killed (SIGKILL) and restarted sends no periodic job twice: DatabaseScheduler stores
`last_run_at` lazily, so the restarted beat finds every job due again (kernel/beat.py). Beat told
to stop (SIGTERM) stops, even while a send is stuck on a frozen broker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from devtools.testing.daphne import database_url_for
from devtools.testing.faults import RedisServer, wait_until
from kernel.redis import get_redis

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

SCHEDULER = os.environ.get("BEAT_TEST_SCHEDULER", "kernel.beat:DatabaseScheduler")
# Jobs that legitimately run again within the test (every few seconds).
FREQUENT = {name for name, spec in settings.CELERY_BEAT_SCHEDULE.items() if float(spec["schedule"]) < 30}


class Beat:
    def __init__(self, queue: str, pidfile: str, redis_url: str | None = None):
        env = {
            **os.environ, "DJANGO_SETTINGS_MODULE": "deepiri.settings_test", "TEST_DATABASE_NAME": "",
            "DATABASE_URL": database_url_for(connection.settings_dict), "DB_CONN_MAX_AGE": "0",
            "REDIS_URL": redis_url or settings.REDIS_URL, "REDIS_KEY_PREFIX": settings.REDIS_KEY_PREFIX,
            "CELERY_TASK_ALWAYS_EAGER": "0", "CELERY_QUEUE": queue, "PYTHONUNBUFFERED": "1",
        }
        self.lines: list[str] = []
        self.proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "celery", "--quiet", "-A", "deepiri", "beat", "-l", "INFO",
             "--scheduler", SCHEDULER, "--pidfile", pidfile],
            cwd=settings.BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    def handled(self) -> set[str]:
        """Jobs this beat sent or skipped."""
        names = set()
        for line in list(self.lines):
            for name in settings.CELERY_BEAT_SCHEDULE:
                if f"Sending due task {name} " in line or f"{name} was sent less than" in line:
                    names.add(name)
        return names

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._reader.join(5)


def _sent(queue: str) -> Counter:
    raw = get_redis().lrange(f"{settings.REDIS_KEY_PREFIX}:celery:{queue}", 0, -1)
    return Counter(json.loads(message)["headers"]["periodic_task_name"] for message in raw)


def _every_job_last_ran_long_ago() -> None:
    """The schedule as beat stores it, every job last run two days ago: all due at once."""
    from django_celery_beat.models import PeriodicTask
    from django_celery_beat.schedulers import DatabaseScheduler

    from deepiri.celery import app

    DatabaseScheduler(app=app, lazy=True).setup_schedule()
    PeriodicTask.objects.update(last_run_at=timezone.now() - timedelta(days=2))


def _still_due_long_ago() -> set[str]:
    from django_celery_beat.models import PeriodicTask

    return set(PeriodicTask.objects.filter(last_run_at__lt=timezone.now() - timedelta(days=1))
               .values_list("name", flat=True))


def test_beat_killed_and_restarted_sends_no_job_twice(tmp_path):
    queue = f"beat-{uuid.uuid4().hex[:8]}"
    every = set(settings.CELERY_BEAT_SCHEDULE)
    _every_job_last_ran_long_ago()
    first = Beat(queue, str(tmp_path / "beat1.pid"))
    try:
        try:
            wait_until(lambda: set(_sent(queue)) >= every, 90, what="the first beat to send every job")
        except AssertionError:
            raise AssertionError(f"{_sent(queue)}\n{''.join(first.lines[-30:])}") from None
    finally:
        first.kill()  # before it stored last_run_at

    # Beat stores `last_run_at` at its first tick and every few minutes: a job the first beat
    # stored is not due again for the second, which then rightly neither sends nor skips it.
    due_again = every & _still_due_long_ago()
    assert due_again, "the first beat stored every job: nothing left to test"
    second = Beat(queue, str(tmp_path / "beat2.pid"))
    try:
        try:
            wait_until(lambda: second.handled() >= due_again, 90, what="the restarted beat to consider every due job")
        except AssertionError:
            missing = due_again - second.handled()
            raise AssertionError(f"not considered: {missing}\n{''.join(second.lines[-30:])}") from None
    finally:
        second.kill()
    sent = _sent(queue)
    twice = {name: count for name, count in sent.items() if count > 1 and name not in FREQUENT}
    assert twice == {}, "".join(second.lines[-40:])
    assert any("was sent less than" in line for line in second.lines)


def test_beat_stops_on_sigterm_while_a_send_is_stuck_on_a_frozen_broker(tmp_path):
    """Celery's own handler closed the producer inside the signal handler: the stuck send failed
    with "I/O operation on closed file", beat logged it and ran on, deaf to the stop."""
    redis = RedisServer().start()
    beat = None
    try:
        _every_job_last_ran_long_ago()
        beat = Beat(f"beat-{uuid.uuid4().hex[:8]}", str(tmp_path / "beat.pid"), redis_url=redis.url(3))
        wait_until(lambda: beat.handled(), 60, what="beat to send its first job")
        redis.freeze()
        seen = len(beat.lines)
        # Past the claim's socket timeout: the next send is now blocked on the frozen broker.
        wait_until(lambda: any("Sending due task" in line for line in beat.lines[seen:]), 30,
                   what="beat to start a send while the broker is frozen")
        os.killpg(beat.proc.pid, signal.SIGTERM)
        try:
            beat.proc.wait(15)
        except subprocess.TimeoutExpired:
            pytest.fail("beat ignored SIGTERM with a send stuck:\n" + "".join(beat.lines[-10:]))
        assert beat.proc.returncode == 0
    finally:
        if beat is not None:
            beat.kill()
        redis.stop()
