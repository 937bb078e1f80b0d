"""Every process logs JSON only: gunicorn's own lines (error and access log), the Celery
worker's and beat's own lines, and the application's. Each test starts the real process and
parses every line it wrote."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import requests
from django.conf import settings
from django.db import connection

from devtools.testing.celery import celery_worker, eager_celery  # noqa: F401 (fixtures)
from devtools.testing.daphne import database_url_for
from devtools.testing.faults import free_port, wait_until

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _env(**extra) -> dict:
    return {
        **os.environ, "DJANGO_SETTINGS_MODULE": "deepiri.settings_test", "TEST_DATABASE_NAME": "",
        "DATABASE_URL": database_url_for(connection.settings_dict), "DB_CONN_MAX_AGE": "0",
        "REDIS_URL": settings.REDIS_URL, "REDIS_KEY_PREFIX": settings.REDIS_KEY_PREFIX, "DEBUG": "0",
        "PYTHONUNBUFFERED": "1", **extra,
    }


def _parse_all(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, "the process wrote nothing"
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}")
    return parsed


def test_gunicorn_writes_json_only_error_and_access_log():
    port = free_port()
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "deepiri.wsgi:application"],
        cwd=settings.BASE_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env=_env(GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="1", GUNICORN_ACCESS_LOG="-", LOG_REQUESTS="1"),
    )
    try:
        def answered():
            try:
                return requests.get(f"http://127.0.0.1:{port}/api/health/live", timeout=2).status_code == 200
            except requests.RequestException:
                return proc.poll() is not None
        wait_until(answered, 60, what="gunicorn to answer")
        assert proc.poll() is None
        requests.get(f"http://127.0.0.1:{port}/api/no-such-thing", timeout=5)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    lines = _parse_all(out + "\n" + err)
    names = {line.get("name") for line in lines}
    assert {"gunicorn.error", "gunicorn.access", "deepiri.access"} <= names, names
    assert any("Starting gunicorn" in line["message"] for line in lines)


def test_the_celery_worker_writes_json_only(celery_worker):  # noqa: F811
    from kernel import jobs

    worker = celery_worker()
    jobs.enqueue("deepiri.cleanup_job_failures")
    wait_until(lambda: "deepiri.cleanup_job_failures" in worker.output and "succeeded" in worker.output, 60,
               what="the job to run")
    worker.stop()
    lines = _parse_all(worker.output)
    assert any("starting: pool" in line["message"] for line in lines)  # what the banner said
    assert any(line.get("name") == "celery.app.trace" for line in lines)


def test_celery_beat_writes_json_only(tmp_path):
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "celery", "--quiet", "-A", "deepiri", "beat", "-l", "INFO",
         "--scheduler", "kernel.beat:DatabaseScheduler", "--pidfile", str(tmp_path / "beat.pid")],
        cwd=settings.BASE_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        env=_env(CELERY_TASK_ALWAYS_EAGER="0", CELERY_QUEUE=f"beat-json-{free_port()}"),
    )
    seen: list[str] = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if "Sending due task" in line:
                break
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        rest, _ = proc.communicate(timeout=30)
    lines = _parse_all("".join(seen) + rest)
    assert any("beat: Starting" in line["message"] for line in lines)
