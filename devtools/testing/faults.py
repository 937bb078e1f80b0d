"""Disposable dependencies for fault-injection tests: never the machine's shared services.

    server = RedisServer().start()        # redis-server on a free port, no persistence
    server.kill(); server.restart()       # SIGKILL; start again EMPTY on the same port
    server.freeze(); server.thaw()        # SIGSTOP / SIGCONT: hung, not dead (NxServer too)
    with database_unreachable():          # the test database refuses connections, its
        ...                               # backends are terminated; restored afterwards
    ClientLoop(base_url, tokens).run(...) # signed-in users hammering the API, every answer timed
    private_broker (fixture)              # Celery published to a private redis-server, not eager;
    queued(server)                        # the jobs waiting on its queue
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import redis
import requests
from django.conf import settings
from django.db import connection, connections
from pymongo import MongoClient
from websockets.sync.client import connect

from deepiri.celery import app
from devtools.testing.celery import WorkerProcess
from devtools.testing.daphne import DaphneServer, database_url_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sigkill(proc: subprocess.Popen | None, wait: float) -> None:
    """Kill a server the way a crash would, and reap it."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(wait)


def _signal(proc: subprocess.Popen | None, sig: int) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(sig)


class RedisServer:
    """A private redis-server. `restart()` brings it back with no data (as after a crash of a
    server without persistence), on the same port so clients reconnect by themselves."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.dir = tempfile.mkdtemp(prefix="redis-fault-")

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if not binary:
            raise RuntimeError("redis-server is not installed")
        self.proc = subprocess.Popen(  # noqa: S603
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir, "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                if self.client().ping():
                    return self
            except Exception:  # noqa: BLE001 - not up yet
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on {self.port}") from None
                time.sleep(0.05)

    def client(self):
        return redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1, socket_timeout=2)

    def kill(self) -> None:
        _sigkill(self.proc, 5)

    def freeze(self) -> None:
        """SIGSTOP: the server keeps its port and its connections but answers nothing, as a hung
        host does (the kernel still completes new TCP handshakes into the listen backlog)."""
        _signal(self.proc, signal.SIGSTOP)

    def thaw(self) -> None:
        _signal(self.proc, signal.SIGCONT)

    def restart(self) -> RedisServer:
        self.kill()
        return self.start()

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def _admin_connection():
    """A psycopg connection to the `postgres` maintenance database of the test server."""
    s = connection.settings_dict
    return psycopg.connect(
        host=s.get("HOST") or "127.0.0.1", port=s.get("PORT") or 5432, user=s.get("USER") or "postgres",
        password=s.get("PASSWORD") or None, dbname="postgres", autocommit=True,
    )


@contextmanager
def database_unreachable():
    """Make the test's own database refuse new connections and drop the open ones, as a
    PostgreSQL outage does to clients; restored on exit."""
    name = connection.settings_dict["NAME"]
    with _admin_connection() as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        )
    connections.close_all()
    try:
        yield
    finally:
        with _admin_connection() as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        connections.close_all()


# ------------------------------------------------------------------------------ the client loop
@dataclass
class Answer:
    started: float
    seconds: float
    status: int  # 0: no answer (connection refused, timeout)
    what: str


@dataclass
class ClientLoop:
    """Signed-in users making the core loop's requests (create, complete, lists, leaderboard,
    notifications) as fast as they can, every answer timed. `answers` holds them all."""

    base_url: str
    tokens: list[str]
    timeout: float = 15.0
    answers: list[Answer] = field(default_factory=list)
    task_ids: dict = field(default_factory=dict)

    def __post_init__(self):
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def _call(self, session, method, path, what, **kwargs):
        started = time.monotonic()
        try:
            response = session.request(method, self.base_url + path, timeout=self.timeout, **kwargs)
            status = response.status_code
        except requests.RequestException:
            response, status = None, 0
        with self._lock:
            self.answers.append(Answer(started, time.monotonic() - started, status, what))
        return response

    def _user(self, index: int, token: str):
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        n = 0
        while not self._stop.is_set():
            n += 1
            created = self._call(session, "POST", "/api/tasks", "create", json={"title": f"Task {index}-{n}"})
            if created is not None and created.status_code == 201:
                task_id = created.json()["data"]["id"]
                self.task_ids.setdefault(token, []).append(task_id)
                self._call(session, "POST", f"/api/tasks/{task_id}/complete", "complete", json={"actualDuration": 10})
            self._call(session, "GET", "/api/tasks?limit=5", "list")
            self._call(session, "GET", "/api/gamification/leaderboard?period=all", "leaderboard")
            self._call(session, "GET", "/api/notifications?limit=5", "notifications")
            time.sleep(0.05)

    def start(self) -> ClientLoop:
        for index, token in enumerate(self.tokens):
            thread = threading.Thread(target=self._user, args=(index, token), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)

    # ------------------------------------------------------------------ summaries
    def statuses(self, since: float = 0.0) -> dict[int, int]:
        counts: dict[int, int] = {}
        for a in self.answers:
            if a.started >= since:
                counts[a.status] = counts.get(a.status, 0) + 1
        return counts

    def slowest(self) -> Answer | None:
        return max(self.answers, key=lambda a: a.seconds, default=None)

    def first_success_after(self, instant: float, what: str | None = None) -> float | None:
        """Seconds from `instant` to the first 2xx answer started after it."""
        ok = [a.started for a in self.answers if a.started >= instant and 200 <= a.status < 300
              and (what is None or a.what == what)]
        return min(ok) - instant if ok else None


def report(name: str, loop: ClientLoop, recovery: float | None, drift: list[str], extra: str = "") -> str:
    """One line per fault for the test log (and the note): statuses, slowest, recovery, drift."""
    slowest = loop.slowest()
    line = (
        f"[fault:{name}] statuses={dict(sorted(loop.statuses().items()))} "
        f"slowest={slowest.seconds:.2f}s({slowest.what} {slowest.status}) " if slowest else f"[fault:{name}] "
    )
    line += f"recovery={'n/a' if recovery is None else f'{recovery:.1f}s'} drift={len(drift)} {extra}".rstrip()
    print(line)  # noqa: T201 - shown with -s / in CI logs
    path = os.environ.get("FAULT_REPORT")
    if path:
        with open(path, "a") as fh:
            fh.write(line + "\n")
    return line


# ------------------------------------------------------------------------------ the stack
class FaultStack:
    """The production shape on disposable parts: daphne (HTTP and sockets) and a real Celery
    worker (prefork, as in production) on a PRIVATE redis-server, sharing the test's
    PostgreSQL database. `manage(...)` runs a management command (or `shell -c`) against the
    same stack, as beat or an operator would."""

    def __init__(self, env: dict | None = None, *, pool: str = "prefork", concurrency: int = 2):
        self.redis = RedisServer().start()
        self.prefix = f"fault-{uuid.uuid4().hex[:8]}"
        self.env = {
            "REDIS_URL": self.redis.url(0),
            "REDIS_KEY_PREFIX": self.prefix,
            "CELERY_QUEUE": f"{self.prefix}-jobs",
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "MONGODB_URI": "",
            **{k: str(v) for k, v in (env or {}).items()},
        }
        self.pool, self.concurrency = pool, concurrency
        self.web = DaphneServer(env=self.env)
        self.worker = None

    @property
    def url(self) -> str:
        return self.web.http_url

    def start(self) -> FaultStack:
        self.web.start()
        self.start_worker()
        return self

    def start_worker(self):
        self.worker = WorkerProcess(self.env, pool=self.pool, concurrency=self.concurrency)
        self.worker.wait_ready()
        return self.worker

    def _process_env(self) -> dict:
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "deepiri.settings_test",
            "DATABASE_URL": database_url_for(connection.settings_dict),
            "TEST_DATABASE_NAME": "",
            "DB_CONN_MAX_AGE": "0",
            **self.env,
        }

    def manage(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(  # noqa: S603
            [sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, env=self._process_env(),
            capture_output=True, text=True, timeout=timeout, check=False,
        )

    def shell(self, code: str, timeout: float = 120) -> str:
        done = self.manage("shell", "-c", code, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"manage.py shell failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def beat_tick(self) -> str:
        """What beat runs on its schedule, now: drain the outbox, requeue lost work, reconcile
        the leaderboards with the ledger."""
        return self.shell(
            "from kernel import jobs; from challenges import services as c; from gamification import leaderboards\n"
            "print(jobs.drain_outbox(), c.requeue_understanding(0), c.requeue_stuck(), leaderboards.reconcile())"
        )

    def drift(self) -> list[str]:
        """`rebuild_gamification --check` against this stack: the drift lines (none is good)."""
        done = self.manage("rebuild_gamification", "--check")
        return [line for line in done.stdout.splitlines() if line.startswith("drift:")]

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        self.web.close()
        self.redis.stop()


def wait_until(predicate, timeout: float, interval: float = 0.25, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class SocketWatcher:
    """One WebSocket per user on `/ws/`, reconnecting whenever it drops, recording the id of
    every event received: ids must only ever go up for a user, across reconnects and faults."""

    def __init__(self, server, tokens: list[str]):
        self.server, self.tokens = server, tokens
        self.ids: dict[str, list[int]] = {t: [] for t in tokens}
        self.connects = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _watch(self, token: str) -> None:
        while not self._stop.is_set():
            try:
                with connect(self.server.ws_url_for(token), origin=self.server.origin, open_timeout=5) as ws:
                    self.connects += 1
                    while not self._stop.is_set():
                        try:
                            raw = ws.recv(timeout=0.5)
                        except TimeoutError:
                            continue
                        event = json.loads(raw)
                        if "id" in event:
                            self.ids[token].append(int(event["id"]))
            except Exception:  # noqa: BLE001 - dropped or refused: reconnect, as a client does
                time.sleep(0.3)

    def start(self) -> SocketWatcher:
        for token in self.tokens:
            thread = threading.Thread(target=self._watch, args=(token,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)

    def regressions(self) -> int:
        """Events whose id was not above every id the same user had received before."""
        count = 0
        for ids in self.ids.values():
            top = 0
            for event_id in ids:
                if event_id <= top:
                    count += 1
                top = max(top, event_id)
        return count


class NxServer:
    """A private nx-27017 (MongoDB wire protocol, in-memory) that a test stops and starts again
    (empty) on the same port."""

    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="nx-fault-")
        self.proc: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self) -> NxServer:
        binary = Path(sys.executable).with_name("nx-27017")
        binary = str(binary) if binary.exists() else shutil.which("nx-27017")
        if not binary:
            raise RuntimeError("nx-27017 is not installed (requirements-dev.txt)")
        self.proc = subprocess.Popen(  # noqa: S603
            [binary, "--host", "127.0.0.1", "-p", str(self.port), "--db", "memory",
             "--log-file", os.path.join(self.dir, "nx.log"), "--pid-file", os.path.join(self.dir, "nx.pid")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                with MongoClient(self.uri, serverSelectionTimeoutMS=250) as client:
                    client.admin.command("ping")
                return self
            except Exception:  # noqa: BLE001 - not up yet
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("nx-27017 did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        _sigkill(self.proc, 10)

    def freeze(self) -> None:
        """SIGSTOP: connected, silent (see RedisServer.freeze)."""
        _signal(self.proc, signal.SIGSTOP)

    def thaw(self) -> None:
        _signal(self.proc, signal.SIGCONT)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def private_broker(settings):
    """Point the Celery app at a private redis-server (not eager); the app's own pools are put
    aside and given back untouched afterwards."""
    server = RedisServer().start()
    saved = app.conf.broker_url, app.conf.task_always_eager, app.conf.task_default_queue
    saved_pools = app._pool, app.amqp._producer_pool
    app.conf.broker_url = server.url(0)
    app.conf.task_always_eager = False
    app.conf.task_default_queue = "outbox-test"
    app._pool, app.amqp._producer_pool = None, None
    try:
        yield server
    finally:
        if app._pool is not None:
            app._pool.force_close_all()  # the private broker's connections
        app.conf.broker_url, app.conf.task_always_eager, app.conf.task_default_queue = saved
        app._pool, app.amqp._producer_pool = saved_pools
        server.stop()


def queued(server) -> int:
    """Jobs waiting on the `private_broker` queue."""
    return server.client().llen(f"{settings.REDIS_KEY_PREFIX}:celery:outbox-test")
