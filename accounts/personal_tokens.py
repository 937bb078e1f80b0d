"""Personal access tokens: issuing, revoking, the expiry notice, and authenticating a request.

A token is `dpat_<prefix>_<secret>`; the prefix finds the row, the library's key generator
verifies the whole string against its SHA-512 hash (djangorestframework-api-key).

Authentication is one Redis round trip, as a JWT's is: a script reads the token's entry
(`auth:pat:<prefix>`: id, user, hash, scopes, expiry, password version), sets the
once-a-minute `last_used_at` gate, counts the per-token rate window and, through the token's user
id kept in a plain key, reads the user's entry (accounts.auth_cache) and counts the per-user
window. A cold cache falls back to the database and accounts.auth_cache.load_user.
The entry is only a copy of the row: it is deleted when the token is revoked or regenerated (now
and again at commit), and the hash is checked on every request, so a cached entry never lets a
wrong or a revoked secret through. Expiry and the password version are checked on every request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_redis import get_redis_connection
from rest_framework import exceptions

from accounts import auth_cache, tokens
from accounts.errors import AccountError
from accounts.events import PersonalAccessTokenExpiring
from accounts.models import PAT_PREFIX, PersonalAccessToken, User
from kernel import events
from kernel.api.scopes import required_scope
from kernel.api.throttling import COUNTED_ATTR, token_window, user_window
from kernel.redis import key as redis_key

logger = logging.getLogger(__name__)

MAX_LIFETIME = timedelta(days=365)
EXPIRY_NOTICE = timedelta(days=7)
LAST_USED_EVERY = 60  # seconds: `last_used_at` is written at most this often per token
PREFIX_LENGTH = 8


def max_per_user() -> int:
    return int(getattr(settings, "PAT_MAX_PER_USER", 50))


# --- issuing and revoking ---------------------------------------------------------------------


def live_tokens(user: User):
    """The user's tokens that can still be used or regenerated: not revoked, issued under the
    current password. Expired ones stay listed (so they can be regenerated or deleted)."""
    return PersonalAccessToken.objects.filter(
        user=user, revoked=False, password_version=tokens.password_version(user)
    ).order_by("-created", "-id")


def _limit_check(user: User) -> None:
    # The user row is locked so two parallel creates cannot both pass the count.
    User.objects.select_for_update().filter(pk=user.pk).first()
    if live_tokens(user).count() >= max_per_user():
        raise exceptions.ValidationError(
            {
                "non_field_errors": [
                    exceptions.ErrorDetail(f"At most {max_per_user()} tokens per account.", "too_many_tokens")
                ]
            }
        )


@transaction.atomic
def create_token(user: User, *, name: str, scopes: list[str], expires_at: datetime) -> tuple[PersonalAccessToken, str]:
    """A new token for `user` and its one-time plain value."""
    _limit_check(user)
    pat = PersonalAccessToken(
        user=user,
        name=name,
        scopes=sorted(set(scopes)),
        expiry_date=expires_at,
        password_version=tokens.password_version(user),
    )
    raw = PersonalAccessToken.objects.assign_key(pat)
    pat.save(force_insert=True)
    return pat, raw


def _live_for_update(user: User, token_id: str) -> PersonalAccessToken:
    pat = live_tokens(user).select_for_update().filter(pk=token_id).first()
    if pat is None:
        raise exceptions.NotFound("Token not found.")
    return pat


@transaction.atomic
def regenerate_token(
    user: User, token_id: str, *, expires_at: datetime | None = None
) -> tuple[PersonalAccessToken, str]:
    """A new secret (and prefix) for the same token; the old value stops working at once. The
    expiry stays unless a new one is given; an expired token needs a new one."""
    pat = _live_for_update(user, token_id)
    if expires_at is None and pat.has_expired:
        raise exceptions.ValidationError(
            {"expires_at": [exceptions.ErrorDetail("The token has expired: give a new expiry.", "required")]}
        )
    forget(pat.prefix)
    raw = PersonalAccessToken.objects.assign_key(pat)
    if expires_at is not None:
        pat.expiry_date = expires_at
        pat.expiry_notified_at = None
    pat.save()
    return pat, raw


@transaction.atomic
def revoke_token(user: User, token_id: str) -> None:
    pat = _live_for_update(user, token_id)
    revoke(PersonalAccessToken.objects.filter(pk=pat.pk))


def revoke(queryset) -> int:
    """Revoke every token of `queryset` (the owner's DELETE, the staff admin action); each stops
    working on its next request."""
    with transaction.atomic():
        prefixes = list(queryset.filter(revoked=False).select_for_update().values_list("prefix", flat=True))
        done = PersonalAccessToken.objects.filter(prefix__in=prefixes).update(revoked=True)
    for prefix in prefixes:
        forget(prefix)
    return done


def _entry_key(prefix: str) -> str:
    return f"auth:pat:{prefix}"


def forget(prefix: str) -> None:
    """Drop the cached entry now and again at commit (a request racing the write cannot leave
    the old row cached once the change is visible)."""

    def drop():
        try:
            cache.delete(_entry_key(prefix))
        except Exception:
            logger.warning("auth cache: could not drop token entry %s", prefix, exc_info=True)

    drop()
    transaction.on_commit(drop)


# --- expiry notice ----------------------------------------------------------------------------


def notify_expiring(now: datetime | None = None, batch: int = 500) -> int:
    """Claim live tokens expiring within a week that were not noticed yet (flag set in the same
    transaction as the notice, rows locked with SKIP LOCKED): each owner hears once per token,
    and a second run, or one racing this one, finds nothing to send."""
    now = now or timezone.now()
    sent = 0
    with transaction.atomic():
        due = list(
            PersonalAccessToken.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("user")
            .filter(
                revoked=False,
                expiry_notified_at__isnull=True,
                expiry_date__gt=now,
                expiry_date__lte=now + EXPIRY_NOTICE,
            )
            .order_by("expiry_date")[:batch]
        )
        if not due:
            return 0
        PersonalAccessToken.objects.filter(pk__in=[pat.pk for pat in due]).update(expiry_notified_at=now)
        for pat in due:
            if pat.user.is_active and pat.password_version == tokens.password_version(pat.user):
                events.emit(PersonalAccessTokenExpiring(token=pat, user=pat.user))
                sent += 1
    return sent


# --- authentication ---------------------------------------------------------------------------


class InsufficientScope(exceptions.PermissionDenied):
    default_code = AccountError.INSUFFICIENT_SCOPE

    def __init__(self, scope: str | None):
        if scope is None:
            detail = "This endpoint cannot be used with a personal access token."
            self.errors = None
        else:
            detail = f"The token lacks the scope {scope}."
            self.errors = {"required_scope": [scope]}
        self.scope = scope
        super().__init__(detail, AccountError.TOKEN_NOT_ALLOWED if scope is None else AccountError.INSUFFICIENT_SCOPE)


@dataclass(frozen=True)
class TokenPrincipal:
    """`request.auth` of a request made with a personal access token (`request.user` is its
    user). Holds no secret."""

    id: str
    prefix: str
    scopes: frozenset[str]
    expires_at: datetime

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


def parse(raw: str) -> str | None:
    """The prefix of a well-formed `dpat_<prefix>_<secret>`, else None."""
    if not raw.startswith(PAT_PREFIX):
        return None
    prefix, sep, secret = raw[len(PAT_PREFIX) :].partition("_")
    if not sep or len(prefix) != PREFIX_LENGTH or not prefix.isalnum() or not secret.isalnum():
        return None
    return prefix


def _failed(message: str, code: str = "token_not_valid") -> exceptions.AuthenticationFailed:
    return exceptions.AuthenticationFailed(message, code=code)


def _entry_from_db(prefix: str) -> dict | None:
    row = (
        PersonalAccessToken.objects.filter(prefix=prefix, revoked=False)
        .values("id", "user_id", "hashed_key", "scopes", "expiry_date", "password_version")
        .first()
    )
    if row is None:
        return None
    try:
        cache.set(_entry_key(prefix), row, int(settings.AUTH_USER_CACHE_SECONDS))
        if auth_cache.counts_in_one_trip():
            get_redis_connection("default").set(
                _uid_key(prefix), row["user_id"], ex=int(settings.AUTH_USER_CACHE_SECONDS)
            )
    except Exception:
        logger.warning("auth cache unavailable", exc_info=True)
    return row


# One round trip for everything authentication needs from Redis. The token's user id is kept in a
# plain key beside the pickled entry, so the script can go on to the user's entry and the user's
# rate window (their keys depend on that id). Keys are computed inside the script: fine on one
# Redis server (as deployed), not on Redis Cluster.
_TRIP = """
local out = {redis.call('GET', KEYS[1])}
out[2] = redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) and 1 or 0
out[3] = false
if ARGV[2] ~= '' then
  out[3] = redis.call('INCR', ARGV[2])
  redis.call('EXPIRE', ARGV[2], ARGV[3])
end
local uid = redis.call('GET', KEYS[3])
out[4] = uid
out[5] = false
out[6] = false
if uid then
  out[5] = redis.call('GET', ARGV[4] .. uid .. ARGV[5])
  if ARGV[6] ~= '' then
    local key = ARGV[6] .. uid .. ARGV[7]
    out[6] = redis.call('INCR', key)
    redis.call('EXPIRE', key, ARGV[8])
  end
end
return out
"""
_script = None
PLACEHOLDER = "\x00"


def _uid_key(prefix: str) -> str:
    return redis_key("pat", "uid", prefix)


@dataclass
class _Trip:
    entry: dict | None = None
    first_use: bool = True
    token_count: int | None = None
    user_id: str | None = None
    user_entry: tuple | None = None  # (token version, user) as accounts.auth_cache stores it
    user_count: int | None = None


def _first_trip(prefix: str, twindow, uwindow) -> _Trip:
    """The token's entry, the use gate, the token's rate window and, when the token's user id is
    known, the user's cache entry and rate window, in one script call. `uwindow` is
    kernel.api.throttling.user_window for the user id PLACEHOLDER. Redis down: an empty trip."""
    global _script
    try:
        conn = get_redis_connection("default")
        if _script is None:
            _script = conn.register_script(_TRIP)
        user_key = cache.client.make_key(auth_cache.entry_key(PLACEHOLDER))
        user_before, user_after = user_key.split(PLACEHOLDER)
        window_before, window_after = uwindow[1].split(PLACEHOLDER) if uwindow else ("", "")
        replies = _script(
            keys=[cache.client.make_key(_entry_key(prefix)), redis_key("pat", "used", prefix), _uid_key(prefix)],
            args=[
                LAST_USED_EVERY,
                twindow[1] if twindow else "",
                twindow[2] if twindow else 0,
                user_before,
                user_after,
                window_before,
                window_after,
                uwindow[2] if uwindow else 0,
            ],
            client=conn,
        )
    except Exception:
        logger.warning("auth cache unavailable", exc_info=True)
        return _Trip()
    entry, used, token_count, uid, user_entry, user_count = replies
    uid = uid.decode() if isinstance(uid, bytes) else uid
    return _Trip(
        entry=cache.client.decode(entry) if entry is not None else None,
        first_use=bool(used),
        token_count=token_count,
        user_id=uid,
        user_entry=cache.client.decode(user_entry) if user_entry is not None else None,
        user_count=user_count,
    )


def _cached_entry(prefix: str) -> dict | None:
    try:
        return cache.get(_entry_key(prefix))
    except Exception:
        logger.warning("auth cache unavailable", exc_info=True)
        return None


def _first_use_gate(prefix: str) -> bool:
    try:
        return bool(cache.add(f"auth:pat-used:{prefix}", 1, LAST_USED_EVERY))
    except Exception:
        return True


def _touch(token_id: str, now: datetime) -> None:
    """Write `last_used_at`, at most once a minute even if the gate in Redis is gone."""
    PersonalAccessToken.objects.filter(pk=token_id).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - timedelta(seconds=LAST_USED_EVERY))
    ).update(last_used_at=now)


def authenticate(request, raw: str) -> tuple[User, TokenPrincipal]:
    """The user and principal of a request bearing `raw` (`dpat_…`), or AuthenticationFailed /
    InsufficientScope. Counts the request in the per-token and per-user rate windows."""
    prefix = parse(raw)
    if prefix is None:
        raise _failed("Malformed personal access token.")
    view = (getattr(request, "parser_context", None) or {}).get("view")
    one_trip = auth_cache.counts_in_one_trip()
    twindow = token_window(request, prefix) if one_trip else None
    uwindow = user_window(request, PLACEHOLDER) if one_trip else None
    if one_trip:
        trip = _first_trip(prefix, twindow, uwindow)
    else:  # the embedded setup: no Redis; the throttles count for themselves
        trip = _Trip(entry=_cached_entry(prefix), first_use=_first_use_gate(prefix))
    entry = trip.entry or _entry_from_db(prefix)
    if entry is None or not PersonalAccessToken.objects.key_generator.verify(raw, entry["hashed_key"]):
        raise _failed("Invalid or revoked personal access token.")
    now = timezone.now()
    if entry["expiry_date"] is None or entry["expiry_date"] <= now:
        raise _failed("The personal access token has expired.", AccountError.TOKEN_EXPIRED)
    user_id = entry["user_id"]
    counted = {}
    if twindow:
        counted[twindow[0]] = None if trip.token_count is None else (trip.token_count, twindow[3])
    if trip.user_id == user_id and trip.user_entry is not None and trip.user_entry[0] == entry["password_version"]:
        user = trip.user_entry[1]  # the usual case: everything came in the one round trip
        if uwindow:
            counted[uwindow[0].replace(PLACEHOLDER, user_id)] = (
                None if trip.user_count is None else (trip.user_count, uwindow[3])
            )
    else:
        window = user_window(request, user_id) if one_trip and trip.user_id != user_id else None
        user, _, user_count = auth_cache.load_user(
            user_id, entry["password_version"], count=window[1:3] if window else None
        )
        if window:
            counted[window[0]] = None if user_count is None else (user_count, window[3])
        elif uwindow and trip.user_id == user_id:  # counted by the script already
            counted[uwindow[0].replace(PLACEHOLDER, user_id)] = (
                None if trip.user_count is None else (trip.user_count, uwindow[3])
            )
    setattr(request, COUNTED_ATTR, counted)
    if user is None or not user.is_active or tokens.password_version(user) != entry["password_version"]:
        raise _failed("Invalid or revoked personal access token.")
    scope = required_scope(view, request.method) if view is not None else None
    if scope is None or scope not in entry["scopes"]:
        raise InsufficientScope(scope)
    if trip.first_use:
        _touch(entry["id"], now)
    return user, TokenPrincipal(
        id=entry["id"], prefix=prefix, scopes=frozenset(entry["scopes"]), expires_at=entry["expiry_date"]
    )
