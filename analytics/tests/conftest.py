"""MongoDB fixtures for the analytics tests.

Every test that takes `mongo` runs twice: on the embedded engine (mongomock, in process) and
over the wire against `nx-27017`, a MongoDB wire-protocol server (pinned in
requirements-dev.txt) started once per session as a subprocess on a free port, through the
real pymongo driver. Each test gets a database of its own, dropped afterwards.

Known gaps of nx-27017 0.8.1, and how the code stays clear of them:
- a BSON regex filter matches nothing: use {"$regex": ..., "$options": ...} via __raw__ (unused);
- index names are rewritten (`idx_<collection>_<fields>`): nothing depends on index names;
- `$hour`/`$dateToString` ignore `timezone`, and datetime range filters inside `aggregate` are
  unreliable: local day/hour/weekday are stored on each document and filtered as strings/ints;
- a compound `_id` document in `$group` is not evaluated: group keys are single fields;
- `$ne`/`$not` against an array field: the idempotency guard uses `$nin`;
- a unique-index violation under concurrent writers comes back as a plain OperationFailure
  ("UNIQUE constraint failed") without code 11000: services.is_duplicate_key accepts both;
- `$sum` over a field no grouped document has gives null, not 0: selectors._sums maps it to 0;
- `$arrayToObject` and `$round` are missing (mongomock lacks `$round` too): done in Python.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from pymongo import MongoClient

from analytics import mongo as analytics_mongo


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _nx_binary() -> str:
    beside_python = Path(sys.executable).with_name("nx-27017")
    found = str(beside_python) if beside_python.exists() else shutil.which("nx-27017")
    if not found:
        pytest.fail("nx-27017 is not installed: pip install -r requirements-dev.txt")
    return found


@pytest.fixture(scope="session")
def nx_server(tmp_path_factory):
    """A MongoDB wire-protocol server on 127.0.0.1:<free port>; yields its URI."""
    workdir = tmp_path_factory.mktemp("nx27017")
    port = _free_port()
    proc = subprocess.Popen(
        [
            _nx_binary(),
            "--host",
            "127.0.0.1",
            "-p",
            str(port),
            "--db",
            "memory",
            "--log-file",
            str(workdir / "nx.log"),
            "--pid-file",
            str(workdir / "nx.pid"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    uri = f"mongodb://127.0.0.1:{port}/"
    deadline = time.monotonic() + 20
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"nx-27017 exited with {proc.returncode}; see {workdir / 'nx.log'}")
            try:
                with MongoClient(uri, serverSelectionTimeoutMS=250) as client:
                    client.admin.command("ping")
                break
            except Exception:
                if time.monotonic() > deadline:
                    pytest.fail("nx-27017 did not answer ping within 20 s")
                time.sleep(0.05)
        yield uri
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def _connected(uri: str):
    """mongoengine connected to a fresh database on `uri` (empty: mongomock); the connection
    registered from settings is restored afterwards."""
    name = f"t7_{uuid.uuid4().hex[:12]}"
    analytics_mongo.connect(uri, name)
    try:
        yield
    finally:
        try:
            analytics_mongo.database().client.drop_database(name)
        finally:
            analytics_mongo.connect()


@pytest.fixture(params=["embedded", "wire"])
def mongo(request):
    """mongoengine on a fresh database on mongomock ("embedded") or nx-27017 ("wire"). Yields the name."""
    uri = request.getfixturevalue("nx_server") if request.param == "wire" else ""
    with _connected(uri):
        yield request.param


@pytest.fixture
def wire_only(nx_server):
    """Only the real wire-protocol server (several connections or processes): not parametrized,
    so nothing is skipped on the embedded engine."""
    with _connected(nx_server):
        yield "wire"


from deepiri.testing.celery import eager_celery  # noqa: E402, F401 - autouse: Celery inline in these tests


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a block and then its after-commit callbacks (the Mongo writes), as a real commit would."""

    def run(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)

    return run
