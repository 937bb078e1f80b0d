"""The MongoDB connection for analytics (mongoengine), chosen by `MONGODB_URI`.

    MONGODB_URI=mongodb://mongo:27017/deepiri   -> a pooled pymongo client (tz-aware datetimes)
    MONGODB_URI unset or empty                  -> mongomock, an in-process engine. It keeps
                                                   NOTHING across restarts: fine for a first run
                                                   and for tests, never for production (the rollups
                                                   can be recomputed with `manage.py rebuild_analytics`).

The database name is `MONGODB_DB` unless the URI names one. Options written in the URI
(`?maxPoolSize=50&serverSelectionTimeoutMS=500`) win over the defaults below.

`connect()` only registers the connection (mongoengine creates the client on first use), so it
is safe to call in `AppConfig.ready()` before gunicorn or Celery fork. `ping()` is what
`/api/health` calls.
"""

from __future__ import annotations

import logging
import threading

import mongoengine
import pybreaker
from django.conf import settings
from mongoengine.connection import DEFAULT_CONNECTION_NAME, get_connection, get_db
from pymongo import uri_parser
from pymongo.errors import PyMongoError

logger = logging.getLogger(__name__)

ALIAS = DEFAULT_CONNECTION_NAME

# Driver defaults for a real server. A dead MongoDB must fail a job in ~1 s, not hang a worker;
# a request's MongoDB work is bounded as a whole (MONGODB_REQUEST_BUDGET, kernel/middleware.py).
DEFAULT_OPTIONS = {
    "maxPoolSize": 50,  # per process; web workers x this stays far below mongod's connection limit
    "minPoolSize": 0,
    "maxIdleTimeMS": 60_000,
    "serverSelectionTimeoutMS": 1_000,  # how long to wait for a reachable server
    "connectTimeoutMS": 1_000,
    "socketTimeoutMS": 10_000,  # one query; the heaviest analytics pipeline runs well under this
    "waitQueueTimeoutMS": 2_000,  # waiting for a free pooled connection
    "retryWrites": True,
    "appname": "deepiri",
}

_lock = threading.Lock()
_state = {"embedded": None, "uri": None, "db": None, "store": None}


def connection_options(uri: str) -> dict:
    """DEFAULT_OPTIONS (and MONGODB_* overrides from settings) minus anything the URI already sets."""
    in_uri = {k.lower() for k in uri_parser.parse_uri(uri).get("options", {})}
    overrides = {
        "maxPoolSize": settings.MONGODB_MAX_POOL_SIZE,
        "serverSelectionTimeoutMS": settings.MONGODB_TIMEOUT_MS,
        "connectTimeoutMS": settings.MONGODB_TIMEOUT_MS,
    }
    options = {**DEFAULT_OPTIONS, **{k: v for k, v in overrides.items() if v is not None}}
    return {k: v for k, v in options.items() if k.lower() not in in_uri}


def connect(uri: str | None = None, db: str | None = None, *, alias: str = ALIAS) -> None:
    """(Re)register the analytics connection. With no arguments it reads MONGODB_URI / MONGODB_DB."""
    uri = settings.MONGODB_URI if uri is None else uri
    db = db or settings.MONGODB_DB
    with _lock:
        mongoengine.disconnect(alias)
        if uri:
            name = uri_parser.parse_uri(uri).get("database") or db
            mongoengine.register_connection(
                alias,
                name=name,
                host=uri,
                tz_aware=True,
                uuidRepresentation="standard",
                connect=False,
                **connection_options(uri),
            )
        else:
            import mongomock  # noqa: PLC0415 - embedded mode only
            from mongomock.store import ServerStore  # noqa: PLC0415 - embedded mode only

            if _state["store"] is None:
                # one in-process store, so reconnecting (tests, health checks) keeps the data
                # for the life of the process; nothing survives a restart
                _state["store"] = ServerStore()
            name = db
            mongoengine.register_connection(
                alias,
                name=name,
                host="mongodb://localhost",
                tz_aware=True,
                uuidRepresentation="standard",
                mongo_client_class=mongomock.MongoClient,
                _store=_state["store"],
            )
        _state.update(embedded=not uri, uri=uri, db=name)
    breaker.close()  # a new server: forget the old one's failures


def disconnect(alias: str = ALIAS) -> None:
    with _lock:
        mongoengine.disconnect(alias)


def database():
    """The pymongo Database the analytics documents live in."""
    return get_db(ALIAS)


def ping() -> bool:
    """True when MongoDB answers `ping` (bounded by serverSelectionTimeoutMS). Never raises."""
    try:
        get_connection(ALIAS).admin.command("ping")
        return True
    except Exception as exc:  # any failure means "down" for the health check
        logger.warning("mongodb ping failed: %s", exc)
        return False


def health_check() -> str:
    """For `/api/health`: "up" (a server), "embedded" (the in-process engine); raises when down."""
    if not ping():
        raise RuntimeError("mongo ping failed")
    return "up" if settings.MONGODB_URI else "embedded"


# ------------------------------------------------------------------------------------------------
# Circuit breaker: after a few failed MongoDB calls in a row, calls fail at once for a while
# instead of each waiting out the server-selection timeout. Per process (no shared state to
# reach when things are failing); a success after the cooldown closes it again.
# ------------------------------------------------------------------------------------------------


class MongoUnavailable(PyMongoError):
    """The breaker is open: MongoDB failed just now and was not tried again."""


breaker = pybreaker.CircuitBreaker(
    fail_max=3,
    reset_timeout=15,
    exclude=[lambda exc: not isinstance(exc, PyMongoError)],  # only MongoDB's own failures count
    name="mongodb",
)


def guarded(fn, *args, **kwargs):
    """Call `fn` through the breaker; raises MongoUnavailable (a PyMongoError) while it is open."""
    try:
        return breaker.call(fn, *args, **kwargs)
    except pybreaker.CircuitBreakerError as exc:
        raise MongoUnavailable(f"MongoDB circuit open: {exc}") from exc
