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

import uuid
from contextlib import contextmanager

import pytest

from analytics import mongo as analytics_mongo
from devtools.testing.mongo import NxServer


@pytest.fixture(scope="session")
def nx_server(tmp_path_factory):
    """A MongoDB wire-protocol server on 127.0.0.1:<free port>; yields its URI."""
    with NxServer(tmp_path_factory.mktemp("nx27017")) as uri:
        yield uri


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


from devtools.testing.celery import eager_celery  # noqa: E402, F401 - autouse: Celery inline in these tests


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a block and then its after-commit callbacks (the Mongo writes), as a real commit would."""

    def run(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)

    return run
