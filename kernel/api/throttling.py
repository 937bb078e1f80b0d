"""Throttles backed by the cache (Redis in production), answering 429 with Retry-After.

`login` endpoints use two scopes at once: per client IP and per submitted email, so password
guessing is stopped whether it comes from one address or is spread across many.
"""

from __future__ import annotations

import logging

from axes.handlers.cache import AxesCacheHandler
from django.core.cache import cache as default_cache
from django.core.cache.backends.locmem import LocMemCache
from rest_framework.throttling import AnonRateThrottle, BaseThrottle, SimpleRateThrottle, UserRateThrottle

from kernel.api.middleware import RATELIMIT_ATTR, record_rate_limit
from kernel.redis import get_redis
from kernel.redis import key as redis_key_for

logger = logging.getLogger(__name__)


def client_ip(request) -> str:
    """The client's address under the deployment's one trust rule (NUM_PROXIES proxies in front,
    e.g. the gateway): the last NUM_PROXIES-th X-Forwarded-For entry, which only our own proxy
    wrote, else REMOTE_ADDR. What the API throttles count by, and the admin sign-in lockout too
    (AXES_CLIENT_IP_CALLABLE); behind the gateway REMOTE_ADDR is the gateway for everyone."""
    return BaseThrottle().get_ident(request)


# Where authentication leaves the per-user window count it took in its own round trip:
# {throttle cache key: (count, when) or None when Redis did not answer}.
COUNTED_ATTR = "_deepiri_counted_windows"
# The Redis window keys this request was counted in (on the Django request), so that an answer
# that must not count (a 304 to a conditional GET) can give its count back.
WINDOW_KEYS_ATTR = "_deepiri_window_keys"


def _remember_window(request, redis_key: str) -> None:
    django_request = getattr(request, "_request", request)
    keys = getattr(django_request, WINDOW_KEYS_ATTR, None)
    if keys is None:
        keys = []
        setattr(django_request, WINDOW_KEYS_ATTR, keys)
    keys.append(redis_key)


def refund(request) -> None:
    """Give back the count this request took in each fixed window (a 304 costs the client
    nothing); the RateLimit headers then show one more remaining. Redis down: nothing to do."""
    django_request = getattr(request, "_request", request)
    keys = getattr(django_request, WINDOW_KEYS_ATTR, None)
    if not keys:
        return
    setattr(django_request, WINDOW_KEYS_ATTR, [])
    try:
        pipe = get_redis().pipeline(transaction=False)
        for redis_key in keys:
            pipe.decr(redis_key)
        pipe.execute()
    except Exception:  # Redis down: the window was not counted either
        return
    limits = getattr(django_request, RATELIMIT_ATTR, None)
    if limits is not None:
        limit, remaining, *rest = limits
        setattr(django_request, RATELIMIT_ATTR, (limit, min(limit, remaining + 1), *rest))


class FixedWindowMixin:
    """A counter per client and window in Redis: one INCR+EXPIRE pipeline per request.

    DRF's default throttles keep every request's timestamp in one cached list that is read,
    unpickled, rewritten and stored on each request — at 1,200 requests a minute that list is
    the most expensive part of a cheap endpoint. The general anon/user limits only need a
    fixed-window count; the login limits keep DRF's exact sliding window.

    A signed-in request's count is usually taken by authentication, in the same round trip that
    reads the user (`user_window`, accounts.auth_cache); the throttle then only reads it."""

    def window(self, cache_key: str, now: float) -> tuple[str, int, float]:
        """(Redis key, its expiry in seconds, end of the window) of `cache_key`'s window at `now`."""
        window = int(now // self.duration)
        return redis_key_for("throttle", cache_key, window), int(self.duration) + 1, (window + 1) * self.duration

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        counted = getattr(request, COUNTED_ATTR, None) or {}
        if self.key in counted:
            if counted[self.key] is None:  # Redis was down when it was counted
                return True
            count, now = counted[self.key]
            redis_key, _, self.window_end = self.window(self.key, now)
        else:
            now = self.timer()
            redis_key, ttl, self.window_end = self.window(self.key, now)
            try:
                pipe = get_redis().pipeline(transaction=False)
                pipe.incr(redis_key)
                pipe.expire(redis_key, ttl)
                count = pipe.execute()[0]
            except Exception:  # Redis down: do not turn every request into a 500
                return True
        _remember_window(request, redis_key)
        self.now = now
        record_rate_limit(
            request, self.num_requests, self.num_requests - count, self.window_end - now, self.scope, self.duration
        )
        return count <= self.num_requests

    def wait(self):
        return max(1.0, self.window_end - self.now)


class AnonThrottle(FixedWindowMixin, AnonRateThrottle):
    scope = "anon"


class UserThrottle(FixedWindowMixin, UserRateThrottle):
    scope = "user"


def user_window(request, user_id) -> tuple[str, str, int, float] | None:
    """The per-user window the view's throttle will count this request in, as (throttle cache
    key, Redis key, expiry, now), for authentication to count it in the round trip that reads
    the user; None when the view has no per-user fixed-window throttle. The count is handed back
    with `counted`."""
    view = (getattr(request, "parser_context", None) or {}).get("view")
    if view is None:
        return None
    for throttle in view.get_throttles():
        if isinstance(throttle, UserThrottle) and throttle.rate is not None:
            cache_key = throttle.cache_format % {"scope": throttle.scope, "ident": user_id}
            now = throttle.timer()
            redis_key, ttl, _ = throttle.window(cache_key, now)
            return cache_key, redis_key, ttl, now
    return None


def counted(request, window: tuple[str, str, int, float], count: int | None) -> None:
    """Hand the count taken for `window` (from `user_window`) to the throttle; None when Redis
    did not answer (the throttle then lets the request through, as it would itself)."""
    cache_key, _, _, now = window
    setattr(request, COUNTED_ATTR, {cache_key: None if count is None else (count, now)})


class OutageFallbackCache:
    """A cache that is `primary` (the shared cache, Redis) while it answers and `fallback` (this
    process's memory) while it is unreachable: down, hung, or skipped by kernel.redis' breaker.

    Why the sign-in limits use it: refusing every sign-in during a Redis outage (503) locks out
    each user whose access token expires meanwhile, and counting nowhere opens password guessing.
    In memory the same rates hold per web process, so during an outage a guesser gets at most
    (web processes) x the limit; the counts taken then are forgotten once Redis is back."""

    def __init__(self, primary, fallback):
        self._primary, self._fallback = primary, fallback

    def __getattr__(self, name):
        primary = getattr(self._primary, name)
        if not callable(primary):
            return primary

        def call(*args, **kwargs):
            try:
                return primary(*args, **kwargs)
            except Exception as exc:
                from kernel.api.exceptions import unavailable_dependency  # noqa: PLC0415 - cycle: DRF views import us

                if unavailable_dependency(exc) != "cache":
                    raise
                logger.warning("cache unavailable (%s): %s counted in process memory", type(exc).__name__, name)
                return getattr(self._fallback, name)(*args, **kwargs)

        return call


_OUTAGE_CACHE = LocMemCache("deepiri-limits-outage", {"OPTIONS": {"MAX_ENTRIES": 50_000}})
LIMITS_CACHE = OutageFallbackCache(default_cache, _OUTAGE_CACHE)


class AxesHandler(AxesCacheHandler):
    """django-axes' cache handler (the admin sign-in lockout) on `LIMITS_CACHE`: with Redis
    unreachable, admin sign-in keeps its lockout in process memory instead of failing."""

    def __init__(self):
        super().__init__()
        self.cache = LIMITS_CACHE


class SlidingWindowHeadersMixin:
    """DRF's sliding window, also reporting what is left of it in the RateLimit headers. With
    Redis unreachable the window is kept in this process's memory (`OutageFallbackCache`)."""

    cache = LIMITS_CACHE

    def throttle_success(self):
        allowed = super().throttle_success()
        remaining = self.num_requests - len(self.history)
        reset = (self.history[-1] - self.now + self.duration) if self.history else self.duration
        record_rate_limit(self.request, self.num_requests, remaining, reset, self.scope, self.duration)
        return allowed

    def throttle_failure(self):
        record_rate_limit(self.request, self.num_requests, 0, self.wait() or self.duration, self.scope, self.duration)
        return super().throttle_failure()

    def allow_request(self, request, view):
        self.request = request
        return super().allow_request(request, view)


class LoginIPThrottle(SlidingWindowHeadersMixin, SimpleRateThrottle):
    scope = "login_ip"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginEmailThrottle(SlidingWindowHeadersMixin, SimpleRateThrottle):
    scope = "login_email"

    def get_cache_key(self, request, view):
        email = request.data.get("email") if hasattr(request, "data") and isinstance(request.data, dict) else None
        if not email or not isinstance(email, str):
            return None
        return self.cache_format % {"scope": self.scope, "ident": email.strip().lower()}


class RegisterIPThrottle(SlidingWindowHeadersMixin, SimpleRateThrottle):
    """Registration answers honestly when an email is taken; this limit keeps that answer from
    being a fast way to list accounts."""

    scope = "register"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class PasswordConfirmThrottle(SlidingWindowHeadersMixin, SimpleRateThrottle):
    """Password re-entry by a signed-in user (account deletion): a stolen access token must not
    become a password-guessing oracle."""

    scope = "password_confirm"

    def get_cache_key(self, request, view):
        if not getattr(request.user, "is_authenticated", False) or request.method in ("GET", "HEAD", "OPTIONS"):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class TokenThrottle(FixedWindowMixin, SimpleRateThrottle):
    """Per personal access token (THROTTLE_TOKEN), on top of its user's limit: one runaway script
    cannot spend its owner's whole budget. Keyed by the token's prefix, its public identifier."""

    scope = "token"

    def get_cache_key(self, request, view):
        prefix = getattr(request.auth, "prefix", None)
        if prefix is None or not hasattr(request.auth, "scopes"):
            return None
        return self.cache_format % {"scope": self.scope, "ident": prefix}


def token_window(request, prefix: str) -> tuple[str, str, int, float] | None:
    """`user_window` for the per-token throttle."""
    view = (getattr(request, "parser_context", None) or {}).get("view")
    if view is None:
        return None
    for throttle in view.get_throttles():
        if isinstance(throttle, TokenThrottle) and throttle.rate is not None:
            cache_key = throttle.cache_format % {"scope": throttle.scope, "ident": prefix}
            now = throttle.timer()
            redis_key, ttl, _ = throttle.window(cache_key, now)
            return cache_key, redis_key, ttl, now
    return None
