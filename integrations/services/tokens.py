"""Provider tokens of a connection: the authenticated client, refresh under a per-connection
Redis lock (committed before the lock is released, so a second worker re-reads the rotated pair
instead of burning the old refresh token), and `needs_reauth` when the grant is dead."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from integrations.models import Connection, ConnectionStatus
from integrations.providers import get_provider
from integrations.providers.base import Account, ApiClient, InvalidGrant, TokenSet, TransientError
from integrations.services.errors import NeedsReauth
from kernel.redis import get_redis, key

logger = logging.getLogger("integrations")

REFRESH_LOCK_TTL = 30
REFRESH_MARGIN = 60  # refresh an access token that expires within a minute
# What a refresh changes on the row (and what a waiting worker copies from the winner's row).
TOKEN_FIELDS = (
    "access_token_enc",
    "refresh_token_enc",
    "token_secret_enc",
    "token_expires_at",
    "refresh_expires_at",
    "scope",
    "token_version",
)


def tokens_of(conn: Connection) -> TokenSet:
    return TokenSet(
        access_token=conn.access_token,
        refresh_token=conn.refresh_token,
        token_secret=conn.token_secret,
        expires_at=conn.token_expires_at.timestamp() if conn.token_expires_at else None,
        scope=conn.scope,
        account=Account(id=conn.external_account_id, name=conn.external_account_name, workspace_id=conn.workspace_id),
    )


def client_for(conn: Connection) -> ApiClient:
    provider = get_provider(conn.service)
    tokens = ensure_fresh_tokens(conn)
    return ApiClient(provider, tokens, on_unauthorized=lambda failed: refresh_tokens(conn, failed_token=failed))


def _expiring(conn: Connection) -> bool:
    return bool(conn.token_expires_at and conn.token_expires_at <= timezone.now() + timedelta(seconds=REFRESH_MARGIN))


def ensure_fresh_tokens(conn: Connection) -> TokenSet:
    if _expiring(conn):
        return refresh_tokens(conn)
    return tokens_of(conn)


def refresh_tokens(conn: Connection, *, failed_token: str | None = None) -> TokenSet:
    """Refresh under the per-connection lock. Whoever waited re-reads the committed row first:
    if the token changed meanwhile (another worker refreshed), that pair is used as is. A dead
    grant marks the connection `needs_reauth` (and tells the user)."""
    provider = get_provider(conn.service)
    lock = get_redis().lock(
        key("integrations", "refresh", conn.pk), timeout=REFRESH_LOCK_TTL, blocking_timeout=REFRESH_LOCK_TTL
    )
    if not lock.acquire():
        raise TransientError("another worker is still refreshing this connection's token")
    try:
        fresh = Connection.objects.get(pk=conn.pk)
        current = tokens_of(fresh)
        if failed_token is not None and current.access_token != failed_token:
            _copy_tokens(fresh, conn)
            return current
        if failed_token is None and not _expiring(fresh):
            _copy_tokens(fresh, conn)
            return current
        if not provider.supports_refresh or not current.refresh_token:
            mark_needs_reauth(fresh, "the provider no longer accepts the stored token")
            _copy_tokens(fresh, conn)
            conn.status = fresh.status
            raise NeedsReauth("token refused and it cannot be refreshed")
        try:
            new = provider.refresh(current)
        except InvalidGrant as exc:
            mark_needs_reauth(fresh, f"refresh refused: {exc}")
            conn.status = fresh.status
            raise NeedsReauth(str(exc)) from exc
        with transaction.atomic():
            set_tokens(fresh, new)
            fresh.save(update_fields=[*TOKEN_FIELDS, "updated_at"])
        _copy_tokens(fresh, conn)
        logger.info("refreshed the %s token of connection %s", conn.service, conn.pk)
        return tokens_of(fresh)
    finally:
        try:
            lock.release()
        except Exception:  # noqa: BLE001 - expired lock: nothing to release
            logger.debug("refresh lock of %s had already expired", conn.pk)


def _copy_tokens(src: Connection, dst: Connection) -> None:
    for name in TOKEN_FIELDS:
        setattr(dst, name, getattr(src, name))


def mark_needs_reauth(conn: Connection, reason: str) -> bool:
    """The grant is dead: stop syncing until the user connects again. The sync that found out
    records it on its run and emits `IntegrationFailed` (which notifies the user)."""
    updated = (
        Connection.objects.filter(pk=conn.pk)
        .exclude(status=ConnectionStatus.NEEDS_REAUTH)
        .update(
            status=ConnectionStatus.NEEDS_REAUTH,
            last_error=reason[:1000],
            last_sync_success=False,
            updated_at=timezone.now(),
        )
    )
    conn.status = ConnectionStatus.NEEDS_REAUTH
    conn.last_error = reason[:1000]
    if updated:
        logger.warning("connection %s (%s) needs re-authorization: %s", conn.pk, conn.service, reason)
    return bool(updated)


def set_tokens(conn: Connection, tokens: TokenSet) -> None:
    conn.access_token = tokens.access_token
    conn.refresh_token = tokens.refresh_token
    conn.token_secret = tokens.token_secret
    conn.token_expires_at = datetime.fromtimestamp(tokens.expires_at, tz=UTC) if tokens.expires_at else None
    conn.refresh_expires_at = (
        datetime.fromtimestamp(tokens.refresh_expires_at, tz=UTC) if tokens.refresh_expires_at else None
    )
    conn.scope = (tokens.scope or conn.scope or "")[:1000]
    conn.token_version += 1
