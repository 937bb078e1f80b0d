"""The embedded default (`make run` with nothing configured: a SQLite file) takes a browser's
parallel writes: no "database is locked" 500s. A real daphne on a SQLite file of its own,
hammered by writer threads."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor

import pytest

from devtools.testing.liveapi import LiveAPI

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

WRITERS = 8
ROUNDS = 12


def test_parallel_writers_on_embedded_sqlite_never_see_database_is_locked(tmp_path):
    with LiveAPI.embedded(tmp_path) as api:
        me = api.register("writer@example.com", "Writer")
        first = api.call("POST", "/api/tasks", me, json={"title": "shared"}).json()["data"]["_id"]

        def writer(n: int) -> list[int]:
            statuses = []
            for i in range(ROUNDS):
                r = api.call("POST", "/api/tasks", me, json={"title": f"w{n}-{i}", "tags": [f"t{i}"]})
                statuses.append(r.status_code)
                r = api.call("PUT", f"/api/tasks/{first}", me, json={"title": f"shared {n}-{i}", "priority": "high"})
                statuses.append(r.status_code)
                r = api.call("PUT", "/api/notifications/settings", me, json={"email": i % 2 == 0, "inApp": True})
                statuses.append(r.status_code)
            return statuses

        with ThreadPoolExecutor(WRITERS) as pool:
            statuses = [s for batch in pool.map(writer, range(WRITERS)) for s in batch]
        log = api.log()

    assert len(statuses) == WRITERS * ROUNDS * 3
    assert [s for s in statuses if s >= 500] == [], log
    assert set(statuses) <= {200, 201}, sorted(set(statuses))
    assert "database is locked" not in log
    with sqlite3.connect(tmp_path / "db.sqlite3") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT count(*) FROM tasks_task").fetchone()[0] == 1 + WRITERS * ROUNDS
