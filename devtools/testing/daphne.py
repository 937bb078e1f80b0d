"""A real daphne process for socket tests and benches.

    server = DaphneServer().start()          # daphne deepiri.asgi:application on a free port
    server.ws_url("?token=...")              # "ws://127.0.0.1:<port>/ws/?token=..."
    server.restart(); server.stop()

It runs against the same database and Redis as the test process: the test database that
pytest-django created (tests that use it must be `transaction=True`, so what they write is
committed and visible to daphne) and REDIS_URL / REDIS_KEY_PREFIX, so the channel layer is
channels_redis and the test process's publishers reach daphne's sockets. Needs PostgreSQL
and Redis: tests using the `daphne_server` fixture are marked `services`.

The pytest fixtures are exposed by importing them into a conftest:

    from devtools.testing.daphne import _daphne_process, daphne_server  # noqa: F401
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url_for(settings_dict: dict) -> str:
    """A DATABASE_URL for the database Django is connected to now (the test database in tests)."""
    engine = settings_dict["ENGINE"]
    if not engine.endswith("postgresql"):
        raise RuntimeError("DaphneServer needs PostgreSQL: the test process and daphne share the database")
    user = settings_dict.get("USER") or "postgres"
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{password}@" if password else f"{user}@"
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"


class DaphneServer:
    def __init__(
        self,
        *,
        database_url: str | None = None,
        env: dict | None = None,
        cpu: int | None = None,
        port: int | None = None,
        startup_timeout: float = 20.0,
    ):
        self.port = port or free_port()
        self.cpu = cpu
        self.startup_timeout = startup_timeout
        self.extra_env = env or {}
        self.database_url = database_url
        self.proc: subprocess.Popen | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="daphne-", suffix=".log", delete=False)  # noqa: SIM115

    # ------------------------------------------------------------------ urls
    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, query: str = "") -> str:
        return f"ws://127.0.0.1:{self.port}/ws/{query}"

    def ws_url_for(self, token: str) -> str:
        return self.ws_url(f"?token={token}")

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------ process
    def _env(self) -> dict:
        env = dict(os.environ)
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "deepiri.settings_test",
                "REDIS_URL": settings.REDIS_URL,
                "REDIS_KEY_PREFIX": settings.REDIS_KEY_PREFIX,
                # Work dispatched from a socket handler runs inline: no worker in socket tests.
                "CELERY_TASK_ALWAYS_EAGER": "1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        else:
            env["DATABASE_URL"] = database_url_for(connection.settings_dict)
        env.pop("TEST_DATABASE_NAME", None)
        env.update(self.extra_env)
        return env

    def start(self) -> DaphneServer:
        daphne = shutil.which("daphne", path=str(Path(sys.executable).parent)) or "daphne"
        cmd = [daphne, "-b", "127.0.0.1", "-p", str(self.port), "--proxy-headers", "deepiri.asgi:application"]
        if self.cpu is not None and shutil.which("taskset"):
            cmd = ["taskset", "-c", str(self.cpu), *cmd]
        self._log.seek(0)
        self._log.truncate()
        self.proc = subprocess.Popen(  # noqa: S603
            cmd, cwd=BASE_DIR, env=self._env(), stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daphne exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"daphne did not listen on {self.port} within {self.startup_timeout}s:\n{self.log()}")

    def stop(self, *, kill: bool = False) -> None:
        """Stop daphne (SIGTERM, or SIGKILL to simulate a crash)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def restart(self, *, kill: bool = False) -> DaphneServer:
        self.stop(kill=kill)
        return self.start()

    def log(self) -> str:
        try:
            return Path(self._log.name).read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    def close(self) -> None:
        self.stop()
        self._log.close()
        with_suppressed_unlink(self._log.name)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


def with_suppressed_unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


@pytest.fixture(scope="session")
def _daphne_process(django_db_setup, django_db_blocker):
    """One daphne for the whole run (it starts in ~2 s); each test gets it through `daphne_server`."""
    if not settings.REDIS_URL or not settings.USING_POSTGRES:
        pytest.skip("daphne tests need PostgreSQL and Redis (DATABASE_URL and REDIS_URL)")
    with django_db_blocker.unblock():
        server = DaphneServer().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def daphne_server(transactional_db, _daphne_process):
    """A daphne process serving this test's (committed) database through the Redis channel layer.

    Shared by the tests of a run; one that a test stopped or killed is started again."""
    server = _daphne_process
    if server.proc is None or server.proc.poll() is not None:
        server.start()
    return server
