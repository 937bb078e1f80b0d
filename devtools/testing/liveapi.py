"""A live API server in its own process, on a database of its own, for black-box runs
(schemathesis, concurrency): the embedded defaults (SQLite file, no Redis, mongomock) or
PostgreSQL + a private Redis.

    with LiveAPI.embedded(tmp_path) as api:          # migrate, then daphne on a free port
        seeded = api.seed()                          # a signed-in user with data of every kind
        requests.get(api.url + "/api/tasks", headers=seeded.headers)

Seeding goes through the HTTP API like any client, so what the fuzzer later reaches was made by
the code under test. Throttles are raised for these runs so that generated requests reach the
logic instead of a 429.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg
import requests

from devtools.testing.daphne import BASE_DIR, free_port
from devtools.testing.faults import RedisServer

_SERVICE_VARS = (
    "DATABASE_URL", "TEST_DATABASE_NAME", "REDIS_URL", "REDIS_KEY_PREFIX", "MONGODB_URI", "AI_SERVICE_URL",
    "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CELERY_TASK_ALWAYS_EAGER", "CHANNEL_LAYER_BACKEND",
    "DJANGO_SETTINGS_MODULE",
)


UNREACHABLE = "http://127.0.0.1:9"
_UPSTREAM_VARS = (
    "NOTION_AUTH_BASE", "NOTION_API_BASE", "TRELLO_AUTH_BASE", "TRELLO_API_BASE", "GITHUB_AUTH_BASE",
    "GITHUB_API_BASE", "GOOGLE_AUTH_URL", "GOOGLE_TOKEN_URL", "GOOGLE_REVOKE_URL", "GOOGLE_USERINFO_URL",
    "GOOGLE_TASKS_BASE", "GOOGLE_DRIVE_BASE", "GOOGLE_DOCS_BASE", "FIREBASE_JWKS_URL", "GITHUB_LOGIN_URL",
)


def _wait_port(port: int, proc: subprocess.Popen, timeout: float, what: str, log=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}" + (f":\n{log()}" if log else ""))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout}s" + (f":\n{log()}" if log else ""))


@dataclass
class Seeded:
    token: str
    user_id: str
    ids: dict = field(default_factory=dict)

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}


class LiveAPI:
    THROTTLES = {
        "THROTTLE_ANON": "1000000/min",
        "THROTTLE_USER": "1000000/min",
        "THROTTLE_LOGIN_IP": "1000000/min",
        "THROTTLE_LOGIN_EMAIL": "1000000/min",
    }

    def __init__(self, env: dict, workdir: Path, *, name: str):
        self.name = name
        self.port = free_port()
        self.workdir = workdir
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.log_path = workdir / f"server-{name}.log"
        self._cleanups: list = []

    # ------------------------------------------------------------------ setups
    @classmethod
    def embedded(cls, workdir: Path, **extra) -> LiveAPI:
        """The configuration `make run` serves with nothing configured: a SQLite file and
        in-process stand-ins for Redis, MongoDB and the broker."""
        env = cls._base_env()
        env["DATABASE_URL"] = f"sqlite:///{workdir / 'db.sqlite3'}"
        env.update(extra)
        return cls(env, workdir, name="embedded")

    @classmethod
    def postgres_redis(cls, workdir: Path, database_url: str, **extra) -> LiveAPI:
        """PostgreSQL (`database_url`, created and dropped here) and a private redis-server."""
        redis = RedisServer().start()
        env = cls._base_env()
        env.update({"DATABASE_URL": database_url, "REDIS_URL": redis.url(), "REDIS_KEY_PREFIX": "live"})
        env.update(extra)
        api = cls(env, workdir, name="postgres")
        api._cleanups.append(redis.stop)
        api.redis = redis
        api.database_url = database_url
        _recreate_database(database_url)
        api._cleanups.append(lambda: _drop_database(database_url))
        return api

    @classmethod
    def _base_env(cls) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in _SERVICE_VARS}
        env.update(
            {
                # plain HTTP, fast hashing, DEBUG off (a 500 stays a 500, handler500 included)
                "DJANGO_SETTINGS_MODULE": "deepiri.settings_test",
                "DEBUG": "0",
                "PYTHONUNBUFFERED": "1",
                "JWT_ACCESS_MINUTES": "120",
                "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
                # External peers are never the internet: a closed local port, so an upstream
                # that is "down" fails fast and the answer must say so.
                **dict.fromkeys(_UPSTREAM_VARS, UNREACHABLE),
                **cls.THROTTLES,
            }
        )
        return env

    # ------------------------------------------------------------------ process
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def migrate(self) -> None:
        result = subprocess.run(  # noqa: S603
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=BASE_DIR, env=self.env, capture_output=True, text=True, timeout=300,
        )
        if result.returncode != 0:
            raise RuntimeError(f"migrate failed:\n{result.stdout}\n{result.stderr}")

    def manage(self, *args: str, stdin: str | None = None) -> str:
        """Run a manage.py command against this server's database (e.g. `shell -c ...`)."""
        result = subprocess.run(  # noqa: S603
            [sys.executable, "manage.py", *args], input=stdin,
            cwd=BASE_DIR, env=self.env, capture_output=True, text=True, timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def start(self) -> LiveAPI:
        self.migrate()
        daphne = shutil.which("daphne", path=str(Path(sys.executable).parent)) or "daphne"
        self._log = open(self.log_path, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(  # noqa: S603
            [daphne, "-b", "127.0.0.1", "-p", str(self.port), "deepiri.asgi:application"],
            cwd=BASE_DIR, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        _wait_port(self.port, self.proc, 30, "daphne", self.log)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        for cleanup in reversed(self._cleanups):
            with contextlib.suppress(Exception):
                cleanup()
        self._cleanups.clear()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-8000:]
        except OSError:
            return ""

    def __enter__(self) -> LiveAPI:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ data
    def call(self, method: str, path: str, seeded: Seeded | None = None, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if seeded is not None:
            headers.update(seeded.headers)
        return requests.request(method, self.url + path, headers=headers, timeout=30, **kwargs)

    def register(self, email: str, name: str, password: str = "Fuzz-Horse-42!") -> Seeded:  # noqa: S107
        r = self.call("POST", "/api/auth/register", json={"name": name, "email": email, "password": password})
        assert r.status_code == 201, r.text
        data = r.json()["data"]
        return Seeded(token=data["token"], user_id=data["user"]["_id"])

    def seed(self) -> Seeded:
        """A signed-in user with tasks (one completed), a challenge, notifications, a friend:
        something behind every path id the schema has."""
        me = self.register("fuzz@example.com", "Fuzz User")
        friend = self.register("friend@example.com", "Friend User")
        ids: dict = {"user_id": friend.user_id, "friend_id": friend.user_id}
        r = self.call("POST", "/api/users/friends", me, json={"friendId": friend.user_id})
        assert r.status_code in (200, 201), r.text
        tasks = []
        for n in range(3):
            r = self.call("POST", "/api/tasks", me, json={"title": f"Seed task {n}", "estimatedDuration": 30,
                                                         "metadata": {"source": "manual"}})
            assert r.status_code == 201, r.text
            tasks.append(r.json()["data"]["_id"])
        ids["id"] = tasks[0]
        r = self.call("POST", f"/api/tasks/{tasks[2]}/complete", me, json={})
        assert r.status_code == 200, r.text
        r = self.call("POST", "/api/challenges/generate", me, json={"taskId": tasks[1]})
        assert r.status_code in (200, 201, 202), r.text
        ids["challenge_id"] = ids["challenge"] = r.json()["data"]["_id"]
        r = self.call("GET", "/api/notifications", me)
        notes = r.json()["data"] if r.status_code == 200 else []
        if notes:
            ids["notification_id"] = notes[0]["_id"]
        return Seeded(token=me.token, user_id=me.user_id, ids=ids)


def _admin_dsn(database_url: str) -> tuple[str, str]:
    parsed = urlparse(database_url)
    return urlunparse(parsed._replace(path="/postgres")), parsed.path.lstrip("/")


def _recreate_database(database_url: str) -> None:
    dsn, name = _admin_dsn(database_url)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _drop_database(database_url: str) -> None:
    dsn, name = _admin_dsn(database_url)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def new_workdir(prefix: str = "liveapi-") -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


@contextlib.contextmanager
def database_unreachable(database_url: str):
    """PostgreSQL refuses every connection to this one database (and drops the open ones) until
    the block ends: an outage of the test's own database, nobody else's."""
    dsn, name = _admin_dsn(database_url)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        )
    try:
        yield
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
