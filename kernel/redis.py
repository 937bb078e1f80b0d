"""One Redis client per process, for leaderboards, locks, circuit breakers and live state.

With REDIS_URL unset this is an in-process fakeredis server (DESIGN.md: embedded default),
so the same code paths run with no Redis at all.

A hung Redis (a stopped process, a full network buffer, a black hole) must cost a request no
more than a dead one does. Every client this project opens to Redis (this module's, the
django-redis cache's through `GuardedConnectionPool`, the Celery broker's through
kernel/broker.py) uses connections that:
- time out per operation after `REDIS_SOCKET_TIMEOUT` (connect: `REDIS_CONNECT_TIMEOUT`), and are
  never retried by redis-py itself (its default retries with backoff turned one hung call into
  ~15 s);
- share one per-process breaker: after a timeout, every Redis operation in this process fails at
  once (`RedisSkipped`, a redis ConnectionError, so callers take their Redis-down path) for
  `REDIS_BREAKER_SECONDS`; then one caller probes, and its success closes the breaker;
- share one budget per request (`request_budget`): once a request has spent
  `REDIS_REQUEST_BUDGET` seconds waiting on Redis, its further Redis calls fail at once.
So a request pays at most one timeout however many Redis clients it touches, and the requests
after it in the same process pay none until the probe finds Redis back.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from contextlib import contextmanager

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)

_client = None
_lock = threading.Lock()

# Blocking commands wait on purpose; their wait is not Redis being slow.
_BLOCKING = frozenset({b"BLPOP", b"BRPOP", b"BRPOPLPUSH", b"BLMOVE", b"BZPOPMIN", b"BZPOPMAX", b"XREAD", b"SUBSCRIBE"})


class RedisSkipped(redis.exceptions.ConnectionError):
    """Redis was not asked: it timed out recently in this process, or this request has used its
    Redis budget. Handled wherever a Redis outage is."""


# ------------------------------------------------------------------------ the process breaker
class _Breaker:
    """closed -> (a timeout) -> open for `REDIS_BREAKER_SECONDS` -> one probe at a time -> closed
    on its success, open again on its timeout. Per process: a hung Redis cannot be asked to
    remember that it is hung."""

    def __init__(self):
        self._lock = threading.Lock()
        self.open_until = 0.0  # monotonic; 0 = closed
        self.probing = 0.0  # monotonic end of the current probe's lease; 0 = nobody probes
        self.prober = 0  # the thread that holds it
        self.trips = 0

    def allow(self) -> bool:
        if not self.open_until:
            return True
        now = time.monotonic()
        with self._lock:
            if not self.open_until:
                return True
            if now < self.probing and self.prober == threading.get_ident():
                return True  # the probe's own next step (connect, then send)
            if now < self.open_until or now < self.probing:
                return False
            # this caller probes; the others keep skipping until it reports (or its lease ends)
            self.probing = now + 2 * float(settings.REDIS_SOCKET_TIMEOUT) + 1
            self.prober = threading.get_ident()
            return True

    def success(self) -> None:
        if self.open_until:
            with self._lock:
                if self.open_until:
                    logger.warning("redis answers again; breaker closed")
                self.open_until, self.probing = 0.0, 0.0

    def timed_out(self) -> None:
        with self._lock:
            first = not self.open_until
            self.open_until = time.monotonic() + float(settings.REDIS_BREAKER_SECONDS)
            self.probing = 0.0
            self.trips += 1
        if first:
            logger.warning("redis timed out; skipping it for %.1fs", float(settings.REDIS_BREAKER_SECONDS))

    def reset(self) -> None:
        with self._lock:
            self.open_until, self.probing = 0.0, 0.0


breaker = _Breaker()


def skipping() -> bool:
    """Whether Redis is being skipped in this process right now (without taking the probe)."""
    now = time.monotonic()
    return bool(breaker.open_until) and (now < breaker.open_until or now < breaker.probing)


# ------------------------------------------------------------------------ the request budget
_budget: contextvars.ContextVar[list | None] = contextvars.ContextVar("deepiri_redis_budget", default=None)


@contextmanager
def request_budget(seconds: float | None = None):
    """Within this block (one request), Redis may take `seconds` (REDIS_REQUEST_BUDGET) in all;
    past that, Redis calls fail at once."""
    token = _budget.set([float(settings.REDIS_REQUEST_BUDGET if seconds is None else seconds)])
    try:
        yield
    finally:
        _budget.reset(token)


def _check() -> None:
    left = _budget.get()
    if left is not None and left[0] <= 0:
        raise RedisSkipped("Redis skipped: this request used its Redis time budget")
    if not breaker.allow():
        raise RedisSkipped("Redis skipped: it timed out moments ago")


def _spend(seconds: float) -> None:
    left = _budget.get()
    if left is not None:
        left[0] -= seconds


class _Guarded:
    """Mixed into redis-py's connection classes (see the module docstring)."""

    def connect_check_health(self, *args, **kwargs):
        if self._sock:
            return None
        _check()
        started = time.monotonic()
        try:
            result = super().connect_check_health(*args, **kwargs)
        except redis.exceptions.TimeoutError:
            breaker.timed_out()
            raise
        except redis.exceptions.ConnectionError:
            if breaker.open_until:  # the probe found Redis dead, not back: keep skipping it
                breaker.timed_out()
            raise
        finally:
            _spend(time.monotonic() - started)
        return result

    def send_packed_command(self, command, check_health=True):
        _check()
        first = command if isinstance(command, (bytes, str)) else (command[0] if command else b"")
        head = bytes(first[:24]) if isinstance(first, (bytes, bytearray, memoryview)) else str(first)[:24].encode()
        blocking = any(name in head.upper() for name in _BLOCKING)
        try:
            super().send_packed_command(command, check_health=check_health)
        except redis.exceptions.TimeoutError:
            breaker.timed_out()
            raise
        # set after the send: a health-check PING inside it is a command of its own
        self._deepiri_blocking = blocking

    def read_response(self, *args, **kwargs):
        started = time.monotonic()
        try:
            response = super().read_response(*args, **kwargs)
        except redis.exceptions.TimeoutError:
            breaker.timed_out()
            _spend(time.monotonic() - started)
            raise
        except redis.exceptions.ResponseError:
            breaker.success()  # an error reply is still an answer
            raise
        if not getattr(self, "_deepiri_blocking", False):
            _spend(time.monotonic() - started)
        breaker.success()
        return response


class GuardedConnection(_Guarded, redis.Connection):
    pass


class GuardedSSLConnection(_Guarded, redis.SSLConnection):
    pass


def guarded_class(connection_class):
    if issubclass(connection_class, _Guarded):
        return connection_class
    if issubclass(connection_class, redis.SSLConnection):
        return GuardedSSLConnection
    if connection_class is redis.Connection:
        return GuardedConnection
    return connection_class  # a unix socket: no network to hang on


class GuardedConnectionPool(redis.ConnectionPool):
    """A pool of guarded connections that redis-py never retries (django-redis'
    `CONNECTION_POOL_CLASS`)."""

    def __init__(self, connection_class=redis.Connection, **kwargs):
        kwargs["retry"] = Retry(NoBackoff(), 0)
        kwargs.pop("retry_on_timeout", None)
        super().__init__(connection_class=guarded_class(connection_class), **kwargs)


def get_redis():
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                if settings.REDIS_URL:
                    pool = GuardedConnectionPool.from_url(
                        settings.REDIS_URL,
                        decode_responses=True,
                        socket_connect_timeout=settings.REDIS_CONNECT_TIMEOUT,
                        socket_timeout=settings.REDIS_SOCKET_TIMEOUT,
                        health_check_interval=30,
                    )
                    _client = redis.Redis(connection_pool=pool)
                else:
                    import fakeredis  # noqa: PLC0415 - embedded mode (no REDIS_URL) only

                    _client = fakeredis.FakeRedis(decode_responses=True)
    return _client


def key(*parts) -> str:
    """A namespaced key: `deepiri:<part>:<part>` (REDIS_KEY_PREFIX keeps shared servers apart)."""
    return ":".join([settings.REDIS_KEY_PREFIX, *map(str, parts)])
