"""Outbound HTTP: the one way this backend calls a peer (the AI service, the task providers).

    response = http.request("GET", url, policy=policy, handle=read, headers=..., params=...)

Every call
- goes through one pooled `requests.Session` per process (keep-alive to each host; never
  shared across a fork);
- has a connect and a read timeout per attempt and a total budget for the whole call, retries
  and waits included, so a worker is never stuck longer than `policy.total_timeout`; the body
  is read under the same budget and refused past `policy.max_response_bytes`;
- retries connection errors, timeouts and the statuses in `policy.retry_statuses` at most
  `policy.max_retries` times, with capped exponential backoff and jitter. A `Retry-After` on
  such an answer is honoured to the second: when it asks for longer than
  `policy.max_retry_after` (or than the budget left) we stop retrying and hand that answer to
  the caller, who decides (the providers turn a 429 into a paused sync, for example);
- does not follow redirects unless asked (a token never travels to a host we did not name);
- is guarded by the circuit breaker of its host (`CircuitBreaker`, state in Redis so every
  process shares it), which also opens after `policy.slow_threshold` slow calls in a row (a
  timeout, or an answer slower than `policy.slow_seconds`): a hanging peer is cut off after a
  few calls, not after `breaker_threshold` whole budgets.

The breaker judges the whole call, `handle` included: `handle(response)` turns the final
answer into the caller's result or raises. A transport failure (`Unavailable`) or an exception
of a type listed in `policy.failures` counts against the host; anything else the peer answered
(a 401, a 404, a per-user 429) proves the host alive and counts as a success.

Failures of the transport raise `Unavailable` with a short `reason`: circuit_open, timeout,
connection, budget, too_large. Callers translate it into their own taxonomy.
"""

from __future__ import annotations

import email.utils
import logging
import math
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests

from kernel.redis import get_redis
from kernel.redis import key as redis_key

logger = logging.getLogger(__name__)

T = TypeVar("T")

SERVER_ERRORS = frozenset(range(500, 600))


class Unavailable(Exception):
    """The peer could not be reached or gave no answer in time. `reason`: circuit_open,
    timeout, connection, budget (no attempt fitted), too_large (the body passed the cap)."""

    def __init__(self, reason: str, message: str = "", *, host: str = "", cause: str = ""):
        super().__init__(message or reason)
        self.reason = reason
        self.host = host
        # For `connection`: what the network said, when it is known: `refused` (nothing listens
        # there), `dns` (the name does not resolve), `reset`; empty otherwise.
        self.cause = cause


def network_cause(exc: BaseException) -> str:
    """`refused`, `dns` or `reset` for a requests connection error whose root is one of those
    (walking the exception's causes and urllib3's wrapped reasons), else ""."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return "refused"
        if isinstance(current, socket.gaierror) or type(current).__name__ == "NameResolutionError":
            return "dns"
        if isinstance(current, ConnectionResetError):
            return "reset"
        todo.extend(arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException))
        todo.extend(
            link for link in (current.__cause__, current.__context__, getattr(current, "reason", None))
            if isinstance(link, BaseException)
        )
    return ""


@dataclass(frozen=True)
class Policy:
    """How to call one kind of peer. Built from settings by the caller (`AI_SERVICE_*`,
    `INTEGRATIONS_HTTP_*`): the numbers differ per peer, the semantics do not."""

    connect_timeout: float
    read_timeout: float
    total_timeout: float
    max_retries: int
    backoff: float  # first wait; doubles per attempt, capped at max_backoff, plus up to 50% jitter
    max_backoff: float
    max_retry_after: float  # a longer Retry-After ends the retries: the answer goes to the caller
    retry_statuses: frozenset[int]
    breaker_threshold: int  # failed calls within breaker_window open the circuit...
    breaker_window: float
    breaker_cooldown: float  # ...for this long; then one probe call decides
    max_response_bytes: int = 10_000_000
    headers: Mapping[str, str] = field(default_factory=dict)  # defaults under each request's own
    # A hung peer is found by its slowness, not only by failures: `slow_threshold` consecutive
    # slow calls (a timeout, or an answer later than `slow_seconds`) open the circuit too, so a
    # hanging peer is cut off after that many calls instead of `breaker_threshold` full budgets.
    slow_threshold: int = 0  # 0: off
    slow_seconds: float = 0.0  # 0: only timeouts are slow
    # A read timeout means the peer is hanging: asking again spends another whole timeout.
    retry_read_timeouts: bool = True
    failures: tuple[type[BaseException], ...] = ()  # what `handle` raises when the peer failed


# ---------------------------------------------------------------------------------------------
# The pooled session
# ---------------------------------------------------------------------------------------------

_session: requests.Session | None = None
_session_lock = threading.Lock()


def session() -> requests.Session:
    """One pooled session per process. Retries are ours (`max_retries=0` on the adapter)."""
    global _session
    if _session is None:
        with _session_lock:
            if _session is None:
                s = requests.Session()
                adapter = requests.adapters.HTTPAdapter(pool_connections=16, pool_maxsize=16, max_retries=0)
                s.mount("http://", adapter)
                s.mount("https://", adapter)
                s.headers["User-Agent"] = "deepiri-backend/1"
                _session = s
    return _session


def _forget_session() -> None:
    # A forked worker must not write to its parent's sockets.
    global _session, _session_lock
    _session, _session_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_session)


# ---------------------------------------------------------------------------------------------
# Retry-After
# ---------------------------------------------------------------------------------------------


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date (RFC 9110
    §10.2.3); a date in the past or a negative number is 0; anything else is None."""
    if value is None:
        return None
    value = str(value).strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


# ---------------------------------------------------------------------------------------------
# Circuit breaker per host (state shared through Redis)
# ---------------------------------------------------------------------------------------------


class CircuitBreaker:
    """closed -> (`threshold` failures within `window` s) -> open for `cooldown` s -> half-open:
    one probe call at a time is let through; its success closes the circuit, its failure opens
    it again. Redis being unreachable never blocks calls (fail open, logged): a cache outage
    must not take every peer down with it."""

    def __init__(self, host: str, *, threshold: int, window: float, cooldown: float, probe_ttl: float, client=None,
                 slow_threshold: int = 0):
        self.host = host
        self._client = client  # a Redis client; the shared one (kernel.redis) by default
        self.threshold = max(1, int(threshold))
        self.slow_threshold = max(0, int(slow_threshold))
        self.k_slow = redis_key("http", "breaker", host, "slow")
        self.window = max(1, math.ceil(window))
        self.cooldown = max(0.05, float(cooldown))
        self.probe_ttl = max(1, math.ceil(probe_ttl))
        self.k_failures = redis_key("http", "breaker", host, "failures")
        self.k_open = redis_key("http", "breaker", host, "open")
        self.k_tripped = redis_key("http", "breaker", host, "tripped")
        self.k_probe = redis_key("http", "breaker", host, "probe")

    def _redis(self):
        return self._client if self._client is not None else get_redis()

    def state(self) -> str:
        try:
            r = self._redis()
            if r.exists(self.k_open):
                return "open"
            return "half_open" if r.exists(self.k_tripped) else "closed"
        except Exception:  # noqa: BLE001 - Redis down: report closed, calls go through
            logger.warning("circuit breaker %s: redis unavailable", self.host, exc_info=True)
            return "closed"

    def allow(self) -> bool:
        try:
            r = self._redis()
            if r.exists(self.k_open):
                return False
            if r.exists(self.k_tripped):
                # half-open: exactly one caller probes until it reports back (or its lease ends)
                return bool(r.set(self.k_probe, "1", nx=True, ex=self.probe_ttl))
            return True
        except Exception:  # noqa: BLE001
            logger.warning("circuit breaker %s: redis unavailable, allowing call", self.host, exc_info=True)
            return True

    def record_success(self) -> None:
        try:
            self._redis().delete(self.k_failures, self.k_slow, self.k_tripped, self.k_probe)
        except Exception:  # noqa: BLE001
            logger.warning("circuit breaker %s: redis unavailable", self.host, exc_info=True)

    def record_failure(self, *, slow: bool = False) -> None:
        """A failed call; `slow` when it failed by running out of time (a timeout)."""
        self._record(failed=True, slow=slow)

    def record_slow(self) -> None:
        """A call that succeeded, but later than the policy's `slow_seconds`: not a failure, yet
        one more consecutive slow call."""
        self._record(failed=False, slow=True)

    def _record(self, *, failed: bool, slow: bool) -> None:
        try:
            r = self._redis()
            if r.exists(self.k_tripped):
                self._open(r)  # the half-open probe failed or was slow
                return
            pipe = r.pipeline()
            pipe.set(self.k_failures, 0, nx=True, ex=self.window)  # the window starts at the first failure
            pipe.incr(self.k_failures, 1 if failed else 0)  # INCR keeps the TTL
            if slow:
                pipe.set(self.k_slow, 0, nx=True, ex=self.window)
                pipe.incr(self.k_slow)
            else:
                pipe.delete(self.k_slow)  # slow calls count only while they come in a row
            replies = pipe.execute()
            failures, slow_calls = replies[1], (replies[3] if slow else 0)
            if failures >= self.threshold or (self.slow_threshold and slow_calls >= self.slow_threshold):
                self._open(r)
        except Exception:  # noqa: BLE001
            logger.warning("circuit breaker %s: redis unavailable", self.host, exc_info=True)

    def _open(self, r) -> None:
        ms = int(self.cooldown * 1000)
        pipe = r.pipeline()
        pipe.set(self.k_open, "1", px=ms)
        # "tripped" outlives "open": once the cool-down ends we are half-open, not closed
        pipe.set(self.k_tripped, "1", px=ms + max(self.window, 60) * 1000 * 10)
        pipe.delete(self.k_failures, self.k_slow, self.k_probe)
        pipe.execute()
        logger.warning("circuit breaker %s opened for %.1fs", self.host, self.cooldown)

    def reset(self) -> None:
        self._redis().delete(self.k_failures, self.k_slow, self.k_open, self.k_tripped, self.k_probe)


def host_of(url: str) -> str:
    return urlsplit(url).netloc.lower() or "unknown"


def breaker_for(url: str, policy: Policy, *, client=None) -> CircuitBreaker:
    """The breaker of `url`'s host. The probe's lease outlives one whole call."""
    return CircuitBreaker(
        host_of(url),
        threshold=policy.breaker_threshold,
        window=policy.breaker_window,
        cooldown=policy.breaker_cooldown,
        probe_ttl=policy.total_timeout + 5,
        client=client,
        slow_threshold=policy.slow_threshold,
    )


# ---------------------------------------------------------------------------------------------
# The call
# ---------------------------------------------------------------------------------------------


def request(
    method: str,
    url: str,
    *,
    policy: Policy,
    handle: Callable[[requests.Response], T] | None = None,
    breaker: CircuitBreaker | None = None,
    **kwargs: Any,
) -> T | requests.Response:
    """Send `method url` under `policy` (see the module docstring) and return
    `handle(response)` (or the response itself without `handle`). `kwargs` go to `requests`
    (`headers`, `params`, `data`, `json`, `auth`, `allow_redirects`); `timeout` and `stream`
    are ours."""
    breaker = breaker or breaker_for(url, policy)
    if not breaker.allow():
        raise Unavailable(
            "circuit_open", f"calls to {breaker.host} are paused after repeated failures", host=breaker.host
        )
    started = time.monotonic()
    try:
        response = _attempts(method, url, policy, kwargs)
        result = handle(response) if handle is not None else response
    except Unavailable as exc:
        breaker.record_failure(slow=exc.reason in ("timeout", "budget"))
        raise
    except policy.failures:
        breaker.record_failure()
        raise
    except Exception:
        breaker.record_success()  # the peer answered; the caller did not like the answer
        raise
    if policy.slow_seconds and time.monotonic() - started > policy.slow_seconds:
        breaker.record_slow()
    else:
        breaker.record_success()
    return result


def _attempts(method: str, url: str, policy: Policy, kwargs: dict) -> requests.Response:
    host = host_of(url)
    headers = {**policy.headers, **(kwargs.pop("headers", None) or {})}
    kwargs.pop("timeout", None)
    kwargs.pop("stream", None)
    kwargs.setdefault("allow_redirects", False)
    deadline = time.monotonic() + policy.total_timeout
    last: Unavailable | requests.Response = Unavailable(
        "budget", f"{host}: no attempt fitted in the time budget", host=host
    )
    for attempt in range(policy.max_retries + 1):
        remaining = deadline - time.monotonic()
        if remaining <= 0.05:
            break
        wait = None
        try:
            response = session().request(
                method,
                url,
                headers=headers,
                timeout=(min(policy.connect_timeout, remaining), min(policy.read_timeout, remaining)),
                stream=True,
                **kwargs,
            )
            _read_body(response, deadline, policy.max_response_bytes, host)
        except requests.Timeout as exc:
            last = Unavailable("timeout", f"{host} timed out: {exc.__class__.__name__}", host=host)
            if isinstance(exc, requests.ReadTimeout) and not policy.retry_read_timeouts:
                break
        except requests.RequestException as exc:
            cause = network_cause(exc)
            last = Unavailable(
                "connection", f"{host} unreachable: {cause or exc.__class__.__name__}", host=host, cause=cause
            )
        else:
            if response.status_code not in policy.retry_statuses:
                return response
            last = response
            wait = parse_retry_after(response.headers.get("Retry-After"))
            if wait is not None and wait > policy.max_retry_after:
                return response  # the peer asks for longer than we may wait: its answer stands
        if attempt == policy.max_retries:
            break
        if wait is None:
            wait = min(policy.max_backoff, policy.backoff * 2**attempt) * (1 + random.random() / 2)  # noqa: S311
        if time.monotonic() + wait >= deadline - 0.05:
            break
        logger.info(
            "retrying %s %s in %.2fs (attempt %d): %s",
            method,
            host,
            wait,
            attempt + 2,
            last.reason if isinstance(last, Unavailable) else last.status_code,
        )
        time.sleep(wait)
    if isinstance(last, Unavailable):
        raise last
    return last


def _read_body(response: requests.Response, deadline: float, limit: int, host: str) -> None:
    """Read the whole body under the budget and the size cap; afterwards `.content`, `.text`
    and `.json()` work as on an unstreamed response and the connection is back in the pool."""
    chunks, size = [], 0
    try:
        for chunk in response.iter_content(chunk_size=65536):
            size += len(chunk)
            if size > limit:
                raise Unavailable("too_large", f"{host} sent more than {limit} bytes", host=host)
            if time.monotonic() > deadline:
                raise requests.Timeout("total time budget exceeded while reading")
            chunks.append(chunk)
    finally:
        response.close()
    response._content = b"".join(chunks)
    response._content_consumed = True
