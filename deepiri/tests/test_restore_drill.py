"""The backup-and-restore drill of docs/OPERATIONS.md, run on every CI run.

A real app (daphne, a private redis-server, a fresh nx-27017 MongoDB) is seeded through its own
API: users, tasks, completions (ledger, badges, streaks), a challenge, notifications, a friend
request, an encrypted integration connection, issued tokens (one sign-in logged out). Then, as an
operator would: `pg_dump -Fc`, `pg_restore` into a new database, and the app started on it with
an EMPTY Redis and an EMPTY MongoDB (and a Celery worker). Checked:

- every table's rows are identical (per-table count and checksum);
- a smoke journey: the live token works, the logged-out one stays refused, refresh, the task list,
  completing a task, the integration's secret decrypts;
- what is derived heals without an operator: the leaderboard (same points and ranks), socket
  event ids (keep increasing past every id handed out before), analytics (503 `rebuilding`, never
  200 with zeros, then the same numbers as before).

The figures (dump size, dump and restore time, time to heal) are printed with -s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import time
import uuid
from urllib.parse import urlparse

import pytest
import requests
from django.conf import settings
from websockets.asyncio.client import connect

from devtools.testing.celery import WorkerProcess
from devtools.testing.faults import RedisServer
from devtools.testing.liveapi import LiveAPI, _drop_database, _recreate_database, new_workdir
from devtools.testing.mongo import NxServer

pytestmark = [pytest.mark.services, pytest.mark.slow]

PG_BIN = "/usr/lib/postgresql/15/bin"
PASSWORD = "Drill-Horse-42!"
SECRET = "secret_notion_token_that_must_survive"  # noqa: S105 - a test value
ANALYTICS = ("/api/analytics/stats?period=month", "/api/analytics?days=30", "/api/analytics/performance?days=30")
LEADERBOARD = "/api/gamification/leaderboard?period=all&limit=10"


def _tool(name: str) -> str:
    for candidate in (os.path.join(PG_BIN, name), shutil.which(name) or "", f"/usr/bin/{name}"):
        if candidate and os.path.exists(candidate):
            return candidate
    pytest.fail(f"{name} is not installed")


def _database_url(name: str) -> str:
    db = settings.DATABASES["default"]
    auth = db.get("USER") or "postgres"
    if db.get("PASSWORD"):
        auth += f":{db['PASSWORD']}"
    return f"postgres://{auth}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{name}"


def _pg_env(url: str) -> tuple[dict, list[str]]:
    parsed = urlparse(url)
    env = {**os.environ, "PGPASSWORD": parsed.password or ""}
    return env, ["-h", parsed.hostname or "127.0.0.1", "-p", str(parsed.port or 5432), "-U", parsed.username or "postgres"]


def checksums(url: str) -> dict[str, tuple[int, str]]:
    """table -> (rows, md5 over the sorted md5 of every row's text): equal means equal data."""
    import psycopg

    with psycopg.connect(url.replace("postgres://", "postgresql://", 1)) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            ).fetchall()
        ]
        out = {}
        for table in tables:
            count, digest = conn.execute(
                f'SELECT count(*), coalesce(md5(string_agg(md5(t::text), \',\' ORDER BY md5(t::text))), \'\') FROM "{table}" t'  # noqa: S608 - names from pg_tables
            ).fetchone()
            out[table] = (count, digest)
        return out


def _start(stack, workdir, name: str, database_url: str, *, eager: bool):
    """daphne on `database_url` with its own empty redis-server and nx-27017 (and a worker when
    not eager). Returns (api, redis, mongo uri, worker)."""
    redis = RedisServer().start()
    stack.callback(redis.stop)
    mongo_uri = stack.enter_context(NxServer(workdir / f"nx-{name}"))
    queue = f"drill-{uuid.uuid4().hex[:8]}"
    env = LiveAPI._base_env()
    env.update(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis.url(),
            "REDIS_KEY_PREFIX": "drill",
            "MONGODB_URI": mongo_uri,
            "MONGODB_DB": "deepiri",
            "CELERY_TASK_ALWAYS_EAGER": "1" if eager else "0",
            "CELERY_QUEUE": queue,
            "SECRET_KEY": "drill-secret-key-the-same-on-both-sides",
            "ANALYTICS_FRESHNESS_GRACE_SECONDS": "0",
        }
    )
    api = LiveAPI(env, workdir, name=name)
    stack.callback(api.stop)
    api.start()
    worker = None
    if not eager:
        worker = WorkerProcess({k: env[k] for k in env if k not in ("TEST_DATABASE_NAME",)})
        stack.callback(worker.stop)
        worker.wait_ready()
    return api, redis, mongo_uri, worker


class Client:
    def __init__(self, api: LiveAPI, token: str | None = None):
        self.api, self.token = api, token

    def __call__(self, method, path, status=None, **kwargs):
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = requests.request(method, self.api.url + path, headers=headers, timeout=30, **kwargs)
        if status is not None:
            assert response.status_code == status, (method, path, response.status_code, response.text[:500])
        return response

    def data(self, path):
        return self("GET", path, 200).json()["data"]


def _sign_in(api, email) -> dict:
    r = requests.post(f"{api.url}/api/auth/login", json={"email": email, "password": PASSWORD}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def _register(api, email, name) -> Client:
    r = requests.post(
        f"{api.url}/api/auth/register", json={"name": name, "email": email, "password": PASSWORD}, timeout=30
    )
    assert r.status_code == 201, r.text
    return Client(api, r.json()["data"]["token"])


def _seed(api) -> dict:
    """A realistic small history, made through the API (and the integration through the service)."""
    alice = _register(api, "alice@drill.example", "Alice")
    bob = _register(api, "bob@drill.example", "Bob")
    carol = _register(api, "carol@drill.example", "Carol")
    tasks = {}
    for who, client, n_tasks, n_done in (("alice", alice, 6, 4), ("bob", bob, 4, 2), ("carol", carol, 3, 1)):
        ids = []
        for n in range(n_tasks):
            r = client(
                "POST", "/api/tasks", 201,
                json={"title": f"{who} task {n}", "type": ("code", "study", "creative")[n % 3], "estimatedDuration": 30},
            )
            ids.append(r.json()["data"]["_id"])
        for task_id in ids[:n_done]:
            client("POST", f"/api/tasks/{task_id}/complete", 200, json={"actualDuration": 20 + n_done})
        tasks[who] = ids
    # a challenge generated (local generator) and completed
    r = alice("POST", "/api/challenges/generate", json={"taskId": tasks["alice"][5]})
    assert r.status_code in (201, 202), r.text
    challenge_id = r.json()["data"]["_id"]
    deadline = time.monotonic() + 30
    while alice.data(f"/api/challenges/{challenge_id}")["status"] != "pending":
        assert time.monotonic() < deadline, "the challenge was never generated"
        time.sleep(0.2)
    alice("POST", f"/api/challenges/{challenge_id}/complete", 200, json={"score": 90, "completionTime": 300})
    # a friend request
    r = alice("POST", "/api/users/friends", json={"friendId": bob.data("/api/users/profile")["_id"]})
    assert r.status_code in (200, 201), r.text
    # an integration connection whose token is stored encrypted
    api.manage(
        "shell", "-c",
        "from accounts.models import User; from integrations.models import Connection; "
        "c = Connection(user=User.objects.get(email='alice@drill.example'), service='notion', auth_type='token'); "
        f"c.access_token = {SECRET!r}; c.save()",
    )
    # tokens: Bob's second sign-in logs out (its access token must stay refused); Alice keeps one
    bob_other = _sign_in(api, "bob@drill.example")
    Client(api, bob_other["token"])("POST", "/api/auth/logout", 200, json={})
    alice_pair = _sign_in(api, "alice@drill.example")
    return {
        "alice": alice, "bob": bob, "carol": carol, "tasks": tasks,
        "revoked_token": bob_other["token"], "alice_pair": alice_pair,
    }


async def _next_event_id(api: LiveAPI, token: str) -> int:
    """Open a socket, ping, return the id of the pong (drawn from the user's event sequence)."""
    ws_url = f"ws://127.0.0.1:{api.port}/ws/?token={token}"
    async with connect(ws_url, origin=api.url, open_timeout=10) as ws:
        while json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] != "connected":
            pass
        await ws.send(json.dumps({"type": "ping"}))
        while True:
            event = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if event["type"] == "pong":
                return event["id"]


def _until(fn, timeout=90.0, step=0.1):
    """Call fn until it returns something truthy; returns (value, seconds)."""
    start = time.monotonic()
    while True:
        value = fn()
        if value:
            return value, time.monotonic() - start
        assert time.monotonic() - start < timeout, "did not heal in time"
        time.sleep(step)


def _numbers(served: dict) -> dict:
    daily = [{k: v for k, v in row.items() if k not in ("createdAt", "updatedAt")} for row in served[ANALYTICS[1]]]
    return {**served, ANALYTICS[1]: daily}


def _leaderboard(client) -> list:
    return [(row["userId"]["_id"], row["rank"], row["points"]) for row in client.data(LEADERBOARD)]


@pytest.mark.timeout(600)  # two servers, a worker and a full migrate: minutes on a busy CI
@pytest.mark.django_db(transaction=True)
def test_backup_restore_drill():
    pg_dump, pg_restore = _tool("pg_dump"), _tool("pg_restore")
    tag = uuid.uuid4().hex[:8]
    source_url = _database_url(f"restore_drill_source_{tag}")
    target_url = _database_url(f"restore_drill_target_{tag}")
    workdir = new_workdir("restore-drill-")
    figures: dict = {}
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, workdir, True)
        for url in (source_url, target_url):
            stack.callback(_drop_database, url)
        _recreate_database(source_url)

        # ---------------------------------------------------------------- the live system
        with contextlib.ExitStack() as live:
            api, _, _, _ = _start(live, workdir, "source", source_url, eager=True)
            seeded = _seed(api)
            alice = seeded["alice"]
            before = {path: alice.data(path) for path in ANALYTICS}
            assert before[ANALYTICS[0]]["totalTasksCompleted"] == 4
            board_before = _leaderboard(alice)
            assert len(board_before) == 3 and board_before[0][2] > 0
            last_id = asyncio.run(_next_event_id(api, alice.token))
            tasks_before = alice("GET", "/api/tasks?limit=100", 200).json()["pagination"]["total"]
        # the app is stopped: what is in PostgreSQL now is the backup's content

        # ---------------------------------------------------------------- backup
        dump = workdir / "deepiri.dump"
        env, conn = _pg_env(source_url)
        started = time.monotonic()
        subprocess.run(
            [pg_dump, *conn, "-Fc", "--no-owner", "-f", str(dump), urlparse(source_url).path.lstrip("/")],
            env=env, check=True, capture_output=True, timeout=300,
        )
        figures["dump_seconds"] = round(time.monotonic() - started, 2)
        figures["dump_bytes"] = dump.stat().st_size
        source_sums = checksums(source_url)
        _drop_database(source_url)  # the original is gone: only the dump is left

        # ---------------------------------------------------------------- restore
        _recreate_database(target_url)
        env, conn = _pg_env(target_url)
        started = time.monotonic()
        subprocess.run(
            [pg_restore, *conn, "--no-owner", "--exit-on-error", "-d", urlparse(target_url).path.lstrip("/"), str(dump)],
            env=env, check=True, capture_output=True, timeout=300,
        )
        figures["restore_seconds"] = round(time.monotonic() - started, 2)
        restored_sums = checksums(target_url)
        assert restored_sums == source_sums
        figures["tables"] = len(restored_sums)
        figures["rows"] = sum(count for count, _ in restored_sums.values())

        # ------------------------------------- the app on the restored database, empty Redis and MongoDB
        started = time.monotonic()
        api, redis, mongo_uri, worker = _start(stack, workdir, "restored", target_url, eager=False)
        figures["app_start_seconds"] = round(time.monotonic() - started, 2)
        alice = Client(api, seeded["alice"].token)

        # tokens: issued ones work, the logged-out one stays refused, refresh rotates
        Client(api, seeded["revoked_token"])("GET", "/api/auth/verify", 401)
        alice("GET", "/api/auth/verify", 200)
        Client(api, seeded["alice_pair"]["token"])("GET", "/api/auth/verify", 200)
        r = requests.post(
            f"{api.url}/api/auth/refresh", json={"refreshToken": seeded["alice_pair"]["refreshToken"]}, timeout=30
        )
        assert r.status_code == 200, r.text

        # analytics: never 200 with zeros; 503 rebuilding, then the same numbers as before
        started = time.monotonic()
        first = alice("GET", ANALYTICS[0])
        figures["analytics_first_answer"] = first.status_code
        # MongoDB is empty and nothing has asked yet, so nothing can have rebuilt it: 503, not zeros
        assert first.status_code == 503, first.text
        assert first.json()["code"] == "rebuilding" and int(first.headers["Retry-After"]) > 0

        def analytics_served():
            answers = {path: alice("GET", path) for path in ANALYTICS}
            for response in answers.values():
                assert response.status_code in (200, 503), response.text
                if response.status_code == 503:
                    assert response.json()["code"] == "rebuilding"
            if all(r.status_code == 200 for r in answers.values()):
                return {path: r.json()["data"] for path, r in answers.items()}
            return None

        after, _ = _until(analytics_served)
        figures["analytics_healed_seconds"] = round(time.monotonic() - started, 2)
        assert _numbers(after) == _numbers(before)

        # leaderboards: rebuilt from the ledger (503 rebuild_in_progress meanwhile)
        started = time.monotonic()

        def board():
            r = alice("GET", LEADERBOARD)
            figures.setdefault("leaderboard_first_answer", r.status_code)
            assert r.status_code in (200, 503), r.text
            return _leaderboard(alice) if r.status_code == 200 else None

        board_after, _ = _until(board)
        figures["leaderboard_healed_seconds"] = round(time.monotonic() - started, 2)
        assert board_after == board_before

        # the rest of the journey: lists, completing a task, socket event ids keep increasing
        assert alice("GET", "/api/tasks?limit=100", 200).json()["pagination"]["total"] == tasks_before
        alice("POST", f"/api/tasks/{seeded['tasks']['alice'][4]}/complete", 200, json={})
        next_id = asyncio.run(_next_event_id(api, alice.token))
        assert next_id > last_id
        figures["socket_ids"] = [last_id, next_id]
        assert alice.data("/api/notifications")  # notifications came back with PostgreSQL
        integrations = alice.data("/api/integrations")
        assert any(c.get("service") == "notion" for c in (integrations if isinstance(integrations, list) else []))
        out = api.manage(
            "shell", "-c",
            "from integrations.models import Connection; print(Connection.objects.get(service='notion').access_token)",
        )
        assert out.strip().splitlines()[-1] == SECRET
        assert worker is not None and worker.alive
    print("\nrestore drill:", json.dumps(figures))
