"""JWT pairs (simplejwt) bound to the user's current password, grouped in refresh-token families.

Every token carries `pwv`, a short digest of the password hash: a password reset or change
makes all earlier access tokens invalid at once (refresh tokens are also blacklisted). The one
check of it is `token_is_current`; HTTP, the WebSocket and the refresh endpoint all use it.

Every token also carries `fam`, the sign-in it descends from (`TokenFamily`). Rotation is an
atomic compare-and-swap on the family's current refresh `jti`; presenting an older refresh token
of the family revokes the family (refresh-token reuse detection). Logout and a family's
revocation put access tokens on a denylist (`is_revoked`) for the rest of their lifetime: the
family row in PostgreSQL is the record, Redis a read-through copy (see "access denylist").
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.state import token_backend
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.models import TokenFamily, User

logger = logging.getLogger(__name__)

PASSWORD_VERSION_CLAIM = "pwv"  # noqa: S105  (a claim name, not a secret)
FAMILY_CLAIM = "fam"


class RefreshRefused(Exception):
    """The refresh token may not be rotated (invalid, expired, revoked or reused)."""


def password_version(user) -> str:
    return hashlib.sha256((user.password or "").encode()).hexdigest()[:12]


def user_id_of(token):
    return token.get(api_settings.USER_ID_CLAIM)


def token_is_current(token, user) -> bool:
    """The token-version check: `user` exists, is active and has not changed its password since
    `token` was issued."""
    return (
        user is not None
        and user.is_active
        and token.get(PASSWORD_VERSION_CLAIM) == password_version(user)
    )


# ----------------------------------------------------------------------------- access denylist
# Kept in the cache (Redis in production) beside the cached user, so that authentication reads
# the user entry and the token's denylist entries in one round trip (accounts.auth_cache).
#
# The cache is not the record: PostgreSQL is. A sign-in's revocation is `TokenFamily.revoked_at`,
# and the cache holds a read-through copy of it: `auth:deny:fam:<id>` = 1 when revoked, or
# `auth:live:fam:<id>` = 1 when live. Two keys, not one key holding 1 or 0, because the previous
# release (still serving during a rolling deploy) refuses a token whose deny key exists at all,
# whatever it holds. A family with neither entry (never cached, expired, or Redis lost its data)
# is read from its row and cached again, so a token revoked by logout stays revoked when Redis
# comes back empty. Every access token carries its family; the `jti` entry only adds "this very
# token" to a logout.

FAMILY_KEY_PREFIX = "auth:deny:fam:"
LIVE_FAMILY_KEY_PREFIX = "auth:live:fam:"


def denylist_keys(token) -> list[str]:
    """The cache keys under which this access token would be refused: its own `jti`, and its
    sign-in family."""
    keys = [f"auth:deny:jti:{token.get(api_settings.JTI_CLAIM) or '-'}"]
    family = token.get(FAMILY_CLAIM)
    if family:
        keys += [f"{FAMILY_KEY_PREFIX}{family}", f"{LIVE_FAMILY_KEY_PREFIX}{family}"]
    return keys


def _access_ttl() -> int:
    return int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()) + 1


def _remaining(exp) -> int:
    try:
        return max(1, int(exp) - int(timezone.now().timestamp()) + 1)
    except (TypeError, ValueError):
        return _access_ttl()


def deny_access_token(token) -> None:
    """Refuse this access token until it expires (logout)."""
    if token.get(api_settings.JTI_CLAIM):
        cache.set(denylist_keys(token)[0], 1, timeout=_remaining(token.get("exp")))


def _deny_families(family_ids) -> None:
    # Access tokens of the family live at most ACCESS_TOKEN_LIFETIME after the last rotation;
    # after that the entry may go: a late reader finds the family row revoked anyway.
    if family_ids:
        try:
            cache.set_many({f"{FAMILY_KEY_PREFIX}{f}": 1 for f in family_ids}, timeout=_access_ttl())
        except Exception:
            # The row is revoked already; readers that miss the entry consult it.
            logger.warning("auth: could not cache the revocation of %d sign-in(s)", len(family_ids), exc_info=True)


def _remember_live_family(family_id: str) -> None:
    """Cache a new sign-in as live, so its first request needs no database read (a revocation
    written meanwhile wins: the deny key is read first)."""
    try:
        cache.add(f"{LIVE_FAMILY_KEY_PREFIX}{family_id}", 1, timeout=_access_ttl())
    except Exception:
        logger.warning("auth: access-token denylist unavailable", exc_info=True)


def family_revoked_in_db(family_id: str) -> bool:
    """The durable answer: the family was revoked, or its row is gone (expired and purged, or
    never existed in this database, e.g. after restoring an older backup)."""
    rows = list(TokenFamily.objects.filter(pk=family_id).values_list("revoked_at", flat=True)[:1])
    return not rows or rows[0] is not None


def denied(keys, found: dict, *, cache_usable: bool = True) -> bool:
    """Whether the denylist `keys` (from `denylist_keys`) refuse the token, given the cache
    entries `found` among them. A family the cache knows neither as revoked nor as live is read
    from PostgreSQL and, when the cache works, its answer put back."""
    if any(found.get(key) for key in keys if not key.startswith(LIVE_FAMILY_KEY_PREFIX)):
        return True
    for key in keys:
        if not key.startswith(FAMILY_KEY_PREFIX):
            continue
        family_id = key[len(FAMILY_KEY_PREFIX) :]
        if found.get(f"{LIVE_FAMILY_KEY_PREFIX}{family_id}"):
            continue
        revoked = family_revoked_in_db(family_id)
        if cache_usable:
            try:
                cache.add(key if revoked else f"{LIVE_FAMILY_KEY_PREFIX}{family_id}", 1, timeout=_access_ttl())
            except Exception:
                logger.warning("auth: access-token denylist unavailable", exc_info=True)
        if revoked:
            return True
    return False


def is_revoked(token) -> bool:
    """True when an access token was logged out or its family revoked. A Redis outage does not
    lock everyone out, nor let a revoked sign-in back in: the family rows answer."""
    keys = denylist_keys(token)
    try:
        found = cache.get_many(keys)
    except Exception:
        logger.warning("auth: access-token denylist unavailable", exc_info=True)
        return denied(keys, {}, cache_usable=False)
    return denied(keys, found)


# ----------------------------------------------------------------------------- refresh families


def _new_refresh(user, family_id: str) -> RefreshToken:
    refresh = RefreshToken.for_user(user)  # records the OutstandingToken row
    refresh[PASSWORD_VERSION_CLAIM] = password_version(user)
    refresh[FAMILY_CLAIM] = family_id
    return refresh


def _pair(refresh: RefreshToken) -> dict:
    return {"token": str(refresh.access_token), "refresh_token": str(refresh)}


def issue_pair(user) -> dict:
    """A new sign-in: a new token family."""
    family_id = uuid.uuid4().hex
    refresh = _new_refresh(user, family_id)
    TokenFamily.objects.create(id=family_id, user=user, current_jti=refresh[api_settings.JTI_CLAIM])
    _remember_live_family(family_id)
    return _pair(refresh)


def revoke_family(family_id: str) -> None:
    with transaction.atomic():
        family = TokenFamily.objects.select_for_update().filter(pk=family_id).first()
        if family is None:
            return
        if family.revoked_at is None:
            family.revoked_at = timezone.now()
            family.save(update_fields=["revoked_at"])
        outstanding = OutstandingToken.objects.filter(jti=family.current_jti).first()
        if outstanding is not None:
            BlacklistedToken.objects.get_or_create(token=outstanding)
    _deny_families([family_id])


def rotate(raw: str):
    """Exchange a refresh token for a new pair: returns (user, pair) or raises RefreshRefused.

    Of several requests presenting the same token, the conditional UPDATE lets exactly one
    through. A token rotated away less than REFRESH_REUSE_GRACE_SECONDS ago is refused quietly
    (two tabs refreshing at once); later, it counts as stolen and revokes its family."""
    try:
        payload = token_backend.decode(raw, verify=True)  # signature and expiry
    except (TokenBackendError, TokenError) as exc:
        raise RefreshRefused() from exc
    if payload.get(api_settings.TOKEN_TYPE_CLAIM) != "refresh":
        raise RefreshRefused()
    jti, family_id = payload.get(api_settings.JTI_CLAIM), payload.get(FAMILY_CLAIM)
    user = User.objects.prefetch_related("groups").filter(pk=payload.get(api_settings.USER_ID_CLAIM)).first()
    if not jti or not token_is_current(payload, user):
        raise RefreshRefused()

    reused = False
    with transaction.atomic():
        if family_id:
            refresh = _new_refresh(user, family_id)
            won = TokenFamily.objects.filter(
                pk=family_id, user=user, current_jti=jti, revoked_at__isnull=True
            ).update(current_jti=refresh[api_settings.JTI_CLAIM], previous_jti=jti, rotated_at=timezone.now())
            if not won:
                family = TokenFamily.objects.filter(pk=family_id).first()
                grace = timedelta(seconds=settings.REFRESH_REUSE_GRACE_SECONDS)
                reused = family is not None and family.revoked_at is None and not (
                    family.previous_jti == jti and family.rotated_at and timezone.now() - family.rotated_at < grace
                )
                transaction.set_rollback(True)  # drop the unused new refresh token's row
        else:
            # A token from before families: serialise on its outstanding row instead.
            outstanding = OutstandingToken.objects.select_for_update().filter(jti=jti).first()
            won = outstanding is not None and not BlacklistedToken.objects.filter(token=outstanding).exists()
            if won:
                family_id = uuid.uuid4().hex
                refresh = _new_refresh(user, family_id)
                TokenFamily.objects.create(id=family_id, user=user, current_jti=refresh[api_settings.JTI_CLAIM])
        if won:
            outstanding = OutstandingToken.objects.filter(jti=jti).first()
            if outstanding is not None:
                BlacklistedToken.objects.get_or_create(token=outstanding)
    if reused:
        logger.warning("auth: refresh token reused; revoking family %s of user %s", family_id, user.pk)
        revoke_family(family_id)
    if not won:
        raise RefreshRefused()
    return user, _pair(refresh)


def blacklist(raw_refresh: str) -> None:
    """Logout: the refresh token's whole family stops working, its access tokens included."""
    try:
        token = RefreshToken(raw_refresh)
    except TokenError:
        return
    family_id = token.get(FAMILY_CLAIM)
    if family_id:
        revoke_family(family_id)
    else:
        token.blacklist()


def log_out_access_token(raw: str) -> None:
    """Logout with an access token: it and the rest of its sign-in's tokens stop working."""
    try:
        token = AccessToken(raw)
    except TokenError:
        return
    deny_access_token(token)
    family_id = token.get(FAMILY_CLAIM)
    if family_id:
        revoke_family(family_id)


def revoke_all(user) -> int:
    """Blacklist every outstanding refresh token of a user and end their token families."""
    live = TokenFamily.objects.filter(user=user, revoked_at__isnull=True)
    families = list(live.values_list("id", flat=True))
    live.filter(pk__in=families).update(revoked_at=timezone.now())
    _deny_families(families)
    outstanding = OutstandingToken.objects.filter(user=user).exclude(blacklistedtoken__isnull=False)
    tokens = list(outstanding)
    BlacklistedToken.objects.bulk_create([BlacklistedToken(token=t) for t in tokens], ignore_conflicts=True)
    return len(tokens)


def purge_expired(now=None) -> dict:
    """Delete what can no longer matter (the periodic `accounts.purge_expired_tokens`; running
    it twice deletes nothing more): outstanding refresh tokens past their expiry (with their
    blacklist rows), revoked families whose access tokens have all expired, and families whose
    last refresh token has expired. A purged family reads as revoked (`family_revoked_in_db`),
    so a token that somehow outlived this stays refused."""
    now = now or timezone.now()
    access = settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]
    refresh = settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"]
    families, _ = (
        TokenFamily.objects.annotate(last_issued=Coalesce("rotated_at", "created_at"))
        .filter(Q(revoked_at__lt=now - access - timedelta(minutes=1)) | Q(last_issued__lt=now - refresh - timedelta(minutes=1)))
        .delete()
    )
    outstanding, _ = OutstandingToken.objects.filter(expires_at__lte=now).delete()
    return {"families": families, "outstanding": outstanding}
