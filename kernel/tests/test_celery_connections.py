"""A Celery worker keeps its PostgreSQL connection between jobs for CONN_MAX_AGE, as a web
worker does, and still closes it after each job when CONN_MAX_AGE is 0."""

from __future__ import annotations

import time

import pytest
from django.db import connection

from devtools.testing.celery import celery_worker  # noqa: F401 - fixture

pytestmark = pytest.mark.services


def sessions_opened() -> int:
    """Sessions PostgreSQL has opened on the test database so far (PostgreSQL 14+)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return int(cursor.fetchone()[0])


def run_jobs(worker, count: int) -> None:
    """Queue `count` jobs that read the database, one after the other, each once the last is done."""
    from kernel.tasks import drain_outbox

    def finished() -> int:
        return sum("deepiri.drain_outbox[" in line and "succeeded" in line for line in list(worker.lines))

    for _ in range(count):
        done = finished() + 1
        drain_outbox.delay()
        deadline = time.monotonic() + 20
        while finished() < done:
            assert time.monotonic() < deadline, worker.output[-3000:]
            time.sleep(0.02)


@pytest.mark.parametrize(("max_age", "most"), [("60", 1), ("0", None)])
def test_a_worker_reuses_its_connection_for_conn_max_age(celery_worker, max_age, most):  # noqa: F811
    worker = celery_worker(DB_CONN_MAX_AGE=max_age)
    run_jobs(worker, 1)  # the worker has connected
    before = sessions_opened()
    run_jobs(worker, 10)
    opened = sessions_opened() - before
    if most is None:
        assert opened >= 10  # CONN_MAX_AGE 0: a connection per job, as before
    else:
        assert opened <= most, worker.output[-3000:]


def test_a_kept_connection_the_database_dropped_is_replaced_before_the_next_job(celery_worker):  # noqa: F811
    worker = celery_worker(DB_CONN_MAX_AGE="60")
    run_jobs(worker, 1)
    with connection.cursor() as cursor:  # as a PostgreSQL restart or an idle timeout would
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        assert cursor.fetchone()[0] >= 1
    run_jobs(worker, 2)  # the health check finds the dead connection and opens a new one
    assert "raised unexpected" not in worker.output and "Traceback" not in worker.output, worker.output[-3000:]
