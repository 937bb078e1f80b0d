"""The authenticated user, with its roles, from the cache (Redis through django-redis) instead
of a query per request.

One entry per user, `auth:user:<id>`, holding the user row (groups loaded: the roles) and its
token version (`accounts.tokens.password_version`). A token is served from the entry only when
its `pwv` claim equals the entry's version; otherwise the row is read again (and cached if the
token is current). So a token minted before a password change can never be answered from an
entry made after it, and an entry made before it is deleted when the password changes.

The entry is deleted whenever what it holds may have changed: any save of the user (password,
activation, profile, staff flag), its deletion, and a change of its groups (roles). Writes that
bypass signals (`QuerySet.update`) must call `invalidate(user_id)` themselves. A short TTL bounds
what a missed invalidation could cost. With a cache private to each process (the embedded
defaults) no entry is kept at all: another process's change could not reach it.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import prefetch_related_objects
from django.db.models.signals import m2m_changed, post_delete, post_save
from django_redis import get_redis_connection
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from accounts import tokens
from accounts.models import User

logger = logging.getLogger(__name__)


def _key(user_id) -> str:
    return f"auth:user:{user_id}"


def entry_key(user_id) -> str:
    """The cache key (before the cache's own prefix) of a user's entry, for callers that read it
    in their own round trip (accounts.personal_tokens)."""
    return _key(user_id)


def _ttl() -> int:
    """How long an entry lives; 0 (no entry) when the cache is not shared by every process, as
    with the embedded defaults' process-memory cache: a change made in another process
    (`manage.py`, a second worker) could not drop the entry here, and a deactivated user would
    keep access until it expired. There every request reads the row (SQLite, one indexed query)."""
    if not _cache_is_shared():
        return 0
    return int(settings.AUTH_USER_CACHE_SECONDS)


# Caches whose entries live in one process only.
_PROCESS_LOCAL_CACHES = ("django.core.cache.backends.locmem.", "django.core.cache.backends.dummy.")


def _cache_is_shared() -> bool:
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    return not backend.startswith(_PROCESS_LOCAL_CACHES)


def load_user(
    user_id, token_version: str | None, *, denylist: list[str] | tuple = (), count: tuple[str, int] | None = None
) -> tuple[User | None, bool, int | None]:
    """(the user `user_id` with its groups loaded, or None when there is no such user; whether
    the `denylist` keys refuse the token (`accounts.tokens.denied`: a family entry the
    cache lacks is read from PostgreSQL); the value of the Redis counter `count` = (key,
    expiry) after adding this request to it, or None).

    One round trip reads the entry and the denylist and counts the request (`_read`). The entry
    serves only when its token version is `token_version`, else the row is read (and cached when
    the token is current). A cache outage means the database answers, for the user and for
    the token's sign-in family alike, and nothing is counted."""
    keys = [_key(user_id), *denylist] if _ttl() > 0 else list(denylist)
    cache_usable = True
    try:
        found, counted = _read(keys, count)
    except Exception:  # the cache is an optimisation: Redis down means the database answers
        logger.warning("auth cache unavailable", exc_info=True)
        found, counted, cache_usable = {}, None, False
    entry = found.get(_key(user_id))
    revoked = tokens.denied(denylist, found, cache_usable=cache_usable)
    if entry is not None and entry[0] == token_version:
        return entry[1], revoked, counted
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return None, revoked, counted
    prefetch_related_objects([user], "groups")
    if _ttl() > 0 and tokens.password_version(user) == token_version:
        try:
            cache.set(_key(user_id), (token_version, user), _ttl())
        except Exception:
            logger.warning("auth cache unavailable", exc_info=True)
    return user, revoked, counted


def load_token_user(token, *, count: tuple[str, int] | None = None) -> tuple[User | None, bool, int | None]:
    """`load_user` for a decoded access token that names a user: its claims give the user, the
    token version and the denylist keys."""
    return load_user(
        tokens.user_id_of(token),
        token.get(tokens.PASSWORD_VERSION_CLAIM),
        denylist=tokens.denylist_keys(token),
        count=count,
    )


def user_for_validated_token(token):
    """The active user of a decoded access token, or None (revoked, password changed since, no
    such user). The user comes from the cache, read in the same round trip as the token's
    denylist entries."""
    if tokens.user_id_of(token) is None:
        return None
    user, revoked, _ = load_token_user(token)
    if revoked or not tokens.token_is_current(token, user):
        return None
    return user


def user_for_access_token(raw: str):
    """The active user a raw access token speaks for, or None (bad signature, expired, revoked,
    password changed since)."""
    try:
        token = AccessToken(raw)
    except TokenError:
        return None
    return user_for_validated_token(token)


def _read(keys: list[str], count: tuple[str, int] | None) -> tuple[dict, int | None]:
    """cache.get_many(keys), and with `count` (only when `counts_in_one_trip()`) INCR + EXPIRE
    of that kernel.redis counter in the same pipeline."""
    if count is None:
        return (cache.get_many(keys) if keys else {}), None
    made = [cache.client.make_key(key) for key in keys]
    pipe = get_redis_connection("default").pipeline(transaction=False)
    if made:
        pipe.mget(made)
    pipe.incr(count[0])
    pipe.expire(count[0], count[1])
    replies = pipe.execute()
    values = replies[0] if made else []
    found = {key: cache.client.decode(value) for key, value in zip(keys, values, strict=True) if value is not None}
    return found, replies[-2]


def counts_in_one_trip() -> bool:
    """Whether `load_user` can count a rate window in its round trip: the cache is django-redis on
    the server kernel.redis uses, as deployed. Otherwise (the embedded setup) the throttle counts
    for itself."""
    cache_settings = settings.CACHES.get("default", {})
    return (
        cache_settings.get("BACKEND", "").startswith("django_redis.")
        and bool(settings.REDIS_URL)
        and cache_settings.get("LOCATION") == settings.REDIS_URL
    )


def invalidate(user_id) -> None:
    """Forget the cached user now and again when the current transaction commits (a request
    racing the write cannot leave the old row cached once the change is visible)."""

    def drop():
        try:
            cache.delete(_key(user_id))
        except Exception:
            logger.warning("auth cache: could not drop the entry of %s", user_id, exc_info=True)

    drop()
    transaction.on_commit(drop)


def _on_user_saved(sender, instance, **kwargs):
    invalidate(instance.pk)


def _on_user_deleted(sender, instance, **kwargs):
    invalidate(instance.pk)


def _on_groups_changed(sender, instance, action, reverse, pk_set, **kwargs):
    if action not in ("post_add", "post_remove", "post_clear", "pre_clear"):
        return
    if not reverse:  # user.groups.add(...)
        invalidate(instance.pk)
    elif pk_set:  # group.user_set.add(...)
        for pk in pk_set:
            invalidate(pk)
    elif action == "pre_clear":  # group.user_set.clear(): who was in it
        for pk in instance.user_set.values_list("pk", flat=True):
            invalidate(pk)


def connect() -> None:
    post_save.connect(_on_user_saved, sender=User, dispatch_uid="accounts.auth_cache.saved")
    post_delete.connect(_on_user_deleted, sender=User, dispatch_uid="accounts.auth_cache.deleted")
    m2m_changed.connect(_on_groups_changed, sender=User.groups.through, dispatch_uid="accounts.auth_cache.groups")
