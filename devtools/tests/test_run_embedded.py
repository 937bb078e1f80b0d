"""`make run` on the embedded defaults (a SQLite file, no Redis, no broker) runs the periodic jobs:
scripts/run.sh itself, started as a supervised process the way devtools/topology.py starts
`make prod`'s, and a job that only the scheduler runs (the outbox sweep) is seen doing its work.
The calendar feed is read from it too: its version query runs on SQLite as on PostgreSQL."""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from devtools.topology import ROOT, Process, _http_ok, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SERVICE_VARS = {
    "DATABASE_URL", "TEST_DATABASE_NAME", "REDIS_URL", "REDIS_KEY_PREFIX", "MONGODB_URI", "AI_SERVICE_URL",
    "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CELERY_TASK_ALWAYS_EAGER", "CHANNEL_LAYER_BACKEND",
    "DJANGO_SETTINGS_MODULE", "EMBEDDED_BEAT", "SECRET_KEY",
}


def test_make_run_runs_the_periodic_jobs_without_redis(tmp_path):
    port, instance = free_port(), secrets.token_hex(8)
    db = tmp_path / "db.sqlite3"
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARS}
    env.update({"DATABASE_URL": f"sqlite:///{db}", "PORT": str(port), "DEEPIRI_INSTANCE": instance,
                "PYTHONUNBUFFERED": "1"})
    server = Process(
        "run", ["bash", str(ROOT / "scripts" / "run.sh")], env, tmp_path / "run.log",
        lambda p: _http_ok(f"http://127.0.0.1:{port}/api/health/ready", instance),
    )
    server.start()
    try:
        deadline = time.monotonic() + 240
        while not server.ready():
            assert server.alive(), server.log()
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.5)
        assert "embedded beat started: periodic jobs run in this process (eager)" in server.log(200_000)

        # A job that must not be lost whose process died before publishing it: only the periodic
        # sweep (deepiri.drain_outbox, every 5 s) ever runs it.
        old = (datetime.now(UTC) - timedelta(minutes=5)).isoformat(sep=" ")
        with sqlite3.connect(db, timeout=30) as conn:
            row = conn.execute(
                "INSERT INTO deepiri_outboxjob (task, args, kwargs, created_at, attempts, last_error) "
                "VALUES (?, ?, ?, ?, 0, '') RETURNING id",
                ("deepiri.cleanup_job_failures", json.dumps([]), json.dumps({}), old),
            ).fetchone()[0]
        deadline = time.monotonic() + 60
        while True:
            with sqlite3.connect(db, timeout=30) as conn:
                left = conn.execute("SELECT COUNT(*) FROM deepiri_outboxjob WHERE id = ?", (row,)).fetchone()[0]
            if not left:
                break
            assert server.alive(), server.log()
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.5)
        # the calendar feed on the embedded database (SQLite) too
        base = f"http://127.0.0.1:{port}"
        auth = requests.post(f"{base}/api/auth/register", timeout=30, json={
            "name": "Cal", "email": "cal@example.com", "password": "Correct-Horse-42!"}).json()["data"]["token"]
        headers = {"Authorization": f"Bearer {auth}"}
        due = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        assert requests.post(f"{base}/api/tasks", json={"title": "On SQLite", "dueDate": due}, headers=headers,
                             timeout=30).status_code == 201
        feed = requests.post(f"{base}/api/calendar/feeds", json={}, headers=headers, timeout=30).json()["data"]
        first = requests.get(feed["url"], timeout=30)
        assert first.status_code == 200 and b"SUMMARY:On SQLite" in first.content, first.text[:500]
        again = requests.get(feed["url"], headers={"If-None-Match": first.headers["ETag"]}, timeout=30)
        assert again.status_code == 304

        log = server.log(200_000)
        assert "Sending due task deepiri-drain-outbox (deepiri.drain_outbox)" in log
        assert "deepiri.cleanup_job_failures" in log
        assert "Traceback" not in log, log[-4000:]
    finally:
        server.stop()
