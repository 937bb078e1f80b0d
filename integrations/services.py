"""Every state change of an integration (DESIGN.md §2): connect, callback, token refresh,
`needs_reauth`, disconnect, sync and upsert, webhook intake.

Concurrency rules:
- one sync per connection at a time: a Redis `SET NX EX` lock (`SyncInProgress` otherwise);
- token refresh under a per-connection Redis lock, committed before the lock is released, so a
  second worker re-reads the rotated pair instead of burning the old refresh token;
- imports are upserts on the unique (connection, external id); a page is written in one
  transaction and the incremental cursor is stored only after the whole page loop committed,
  while `Connection.checkpoint` remembers where an interrupted (rate-limited) loop resumes.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dtime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from deepiri import events
from deepiri.redis import get_redis, key
from integrations import crypto
from integrations.events import INTEGRATION_FAILED, INTEGRATION_SYNCED
from integrations.models import (
    AuthType,
    Connection,
    ConnectionStatus,
    ImportedItem,
    OAuthState,
    ProviderSecret,
    SyncRun,
    WebhookDelivery,
)
from integrations.providers import get_provider, slugs
from integrations.providers.base import (
    Account,
    ApiClient,
    AuthError,
    InvalidGrant,
    Item,
    NotFound,
    ProviderError,
    RateLimited,
    Source,
    TokenSet,
    TransientError,
    WebhookEvent,
)

logger = logging.getLogger("integrations")

SYNC_LOCK_TTL = 15 * 60
REFRESH_LOCK_TTL = 30
REFRESH_MARGIN = 60  # refresh an access token that expires within a minute
SEEN_TTL = 24 * 3600


class IntegrationError(Exception):
    """A refusal the API turns into a 4xx with this message."""

    status = 400
    code = "integration_error"

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class NotConfigured(IntegrationError):
    code = "not_configured"


class InvalidState(IntegrationError):
    code = "invalid_state"


class NotConnected(IntegrationError):
    status = 409
    code = "not_connected"


class SyncInProgress(IntegrationError):
    status = 409
    code = "sync_in_progress"


class NeedsReauth(ProviderError):
    code = "needs_reauth"


def now() -> datetime:
    return timezone.now()


def redirect_uri(service: str) -> str:
    return f"{settings.INTEGRATIONS_PUBLIC_URL.rstrip('/')}/api/integrations/{service}/callback"


def webhook_url(service: str) -> str:
    return f"{settings.INTEGRATIONS_PUBLIC_URL.rstrip('/')}/api/integrations/webhooks/{service}"


def provider_for(service: str):
    if service not in slugs():
        raise IntegrationError(f"Unknown service '{service}'.", field="service")
    return get_provider(service)


# ----------------------------------------------------------------------------------------------
# Connecting
# ----------------------------------------------------------------------------------------------
def start_authorization(user, service: str) -> tuple[str, OAuthState]:
    """Create a single-use, expiring `state` bound to `user` and return the authorize URL."""
    provider = provider_for(service)
    if not provider.configured:
        raise NotConfigured(f"{provider.name} is not configured on this server.", field="service")
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)[:96] if provider.supports_pkce else None
    uri = redirect_uri(service)
    try:
        start = provider.authorize(state=state, redirect_uri=uri, code_verifier=verifier)
    except ProviderError as exc:  # Trello's request-token call can fail
        raise IntegrationError(f"{provider.name} refused to start the authorization: {exc}") from exc
    row = OAuthState.objects.create(
        state=state,
        user=user,
        service=service,
        redirect_uri=uri,
        code_verifier_enc=crypto.encrypt(verifier or ""),
        extra_enc=crypto.encrypt(json.dumps(start.extra)) if start.extra else "",
        expires_at=now() + timedelta(seconds=settings.INTEGRATIONS_STATE_TTL),
    )
    return start.url, row


def consume_state(service: str, state: str) -> OAuthState:
    """Take the state exactly once (even if the exchange then fails)."""
    if not state:
        raise InvalidState("The authorization state is missing.")
    with transaction.atomic():
        row = OAuthState.objects.select_for_update().select_related("user").filter(state=state, service=service).first()
        if row is None:
            raise InvalidState("The authorization state is unknown.")
        if row.used_at is not None:
            raise InvalidState("The authorization state was already used.")
        if row.expires_at <= now():
            raise InvalidState("The authorization state has expired.")
        row.used_at = now()
        row.save(update_fields=["used_at", "updated_at"])
    return row


def complete_authorization(service: str, params: dict) -> Connection:
    """The OAuth callback: check the state, exchange the code, store the tokens encrypted."""
    provider = provider_for(service)
    row = consume_state(service, params.get("state", ""))
    if not row.user.is_active:
        raise InvalidState("The account that started this authorization is inactive.")
    if params.get("error"):
        raise IntegrationError(f"{provider.name} authorization was declined ({params['error']}).")
    if not (params.get("code") or params.get("oauth_verifier")):
        raise IntegrationError("The provider sent no authorization code.")
    extra = json.loads(crypto.decrypt(row.extra_enc)) if row.extra_enc else {}
    try:
        tokens = provider.exchange_code(
            params=params,
            redirect_uri=row.redirect_uri,
            code_verifier=crypto.decrypt(row.code_verifier_enc) or None,
            extra=extra,
        )
        account = (
            tokens.account if tokens.account and tokens.account.id else provider.identify(ApiClient(provider, tokens))
        )
    except InvalidGrant as exc:
        raise IntegrationError(f"{provider.name} refused the authorization code.") from exc
    except ProviderError as exc:
        raise IntegrationError(f"{provider.name} could not complete the connection: {exc}") from exc
    auth_type = AuthType.OAUTH1 if provider.auth_type == "oauth1" else AuthType.OAUTH2
    return store_connection(row.user, service, tokens, account, auth_type=auth_type)


def connect_with_credentials(user, service: str, credentials: dict) -> Connection:
    """Token-based connection (Notion internal token, Trello user token, GitHub PAT)."""
    provider = provider_for(service)
    if not provider.token_connect:
        raise IntegrationError(
            f"{provider.name} connects through OAuth: use POST /api/integrations/{service}/connect.", field="service"
        )
    try:
        tokens = provider.tokens_from_credentials(credentials)
    except ProviderError as exc:
        raise IntegrationError(str(exc), field="credentials") from exc
    try:
        account = provider.identify(ApiClient(provider, tokens))
    except (TransientError, RateLimited):
        raise  # the provider is down or busy: the view answers 503
    except (AuthError, NotFound, ProviderError) as exc:
        raise IntegrationError(f"{provider.name} refused these credentials.", field="credentials") from exc
    return store_connection(user, service, tokens, account, auth_type=AuthType.TOKEN)


def store_connection(user, service: str, tokens: TokenSet, account: Account, *, auth_type: str) -> Connection:
    with transaction.atomic():
        conn = Connection.objects.select_for_update().filter(user=user, service=service).first()
        if conn is None:
            conn = Connection(user=user, service=service)
        elif conn.external_account_id and account.id and conn.external_account_id != account.id:
            conn.cursors, conn.checkpoint, conn.sources = {}, {}, []  # another account: start over
        conn.auth_type = auth_type
        _set_tokens(conn, tokens)
        conn.external_account_id = account.id or conn.external_account_id
        conn.external_account_name = account.name or conn.external_account_name
        conn.workspace_id = account.workspace_id or conn.workspace_id
        conn.status = ConnectionStatus.CONNECTED
        conn.connected_at = now()
        conn.disconnected_at = None
        conn.last_error = ""
        conn.next_sync_at = now()
        try:
            conn.save()
        except IntegrityError:  # a concurrent first connect won the insert
            raise IntegrationError("This service is being connected in another request; try again.") from None
        conn_id = conn.pk
        transaction.on_commit(lambda: _after_connect(conn_id))
    return conn


def _set_tokens(conn: Connection, tokens: TokenSet) -> None:
    conn.access_token = tokens.access_token
    conn.refresh_token = tokens.refresh_token
    conn.token_secret = tokens.token_secret
    conn.token_expires_at = datetime.fromtimestamp(tokens.expires_at, tz=UTC) if tokens.expires_at else None
    conn.refresh_expires_at = (
        datetime.fromtimestamp(tokens.refresh_expires_at, tz=UTC) if tokens.refresh_expires_at else None
    )
    conn.scope = (tokens.scope or conn.scope or "")[:1000]
    conn.token_version += 1


def _after_connect(connection_id: str) -> None:
    from integrations.tasks import register_webhooks_task, sync_connection_task

    try:
        sync_connection_task.delay(connection_id, trigger=SyncRun.Trigger.CONNECT)
        if settings.INTEGRATIONS_REGISTER_WEBHOOKS:
            register_webhooks_task.delay(connection_id)
    except Exception:  # noqa: BLE001 - a broker hiccup must not undo the connection
        logger.warning("could not enqueue the first sync of %s", connection_id, exc_info=True)


# ----------------------------------------------------------------------------------------------
# Tokens
# ----------------------------------------------------------------------------------------------
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
    return bool(conn.token_expires_at and conn.token_expires_at <= now() + timedelta(seconds=REFRESH_MARGIN))


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
            _set_tokens(fresh, new)
            fresh.save(
                update_fields=[
                    "access_token_enc",
                    "refresh_token_enc",
                    "token_secret_enc",
                    "token_expires_at",
                    "refresh_expires_at",
                    "scope",
                    "token_version",
                    "updated_at",
                ]
            )
        _copy_tokens(fresh, conn)
        logger.info("refreshed the %s token of connection %s", conn.service, conn.pk)
        return tokens_of(fresh)
    finally:
        try:
            lock.release()
        except Exception:  # noqa: BLE001 - expired lock: nothing to release
            logger.debug("refresh lock of %s had already expired", conn.pk)


def _copy_tokens(src: Connection, dst: Connection) -> None:
    for name in (
        "access_token_enc",
        "refresh_token_enc",
        "token_secret_enc",
        "token_expires_at",
        "refresh_expires_at",
        "scope",
        "token_version",
    ):
        setattr(dst, name, getattr(src, name))


def mark_needs_reauth(conn: Connection, reason: str) -> bool:
    """The grant is dead: stop syncing until the user connects again. The sync that found out
    records it on its run and emits `integration.failed` (which notifies the user)."""
    updated = (
        Connection.objects.filter(pk=conn.pk)
        .exclude(status=ConnectionStatus.NEEDS_REAUTH)
        .update(
            status=ConnectionStatus.NEEDS_REAUTH, last_error=reason[:1000], last_sync_success=False, updated_at=now()
        )
    )
    conn.status = ConnectionStatus.NEEDS_REAUTH
    conn.last_error = reason[:1000]
    if updated:
        logger.warning("connection %s (%s) needs re-authorization: %s", conn.pk, conn.service, reason)
    return bool(updated)


# ----------------------------------------------------------------------------------------------
# Settings and disconnect
# ----------------------------------------------------------------------------------------------
def update_settings(conn: Connection, fields: dict) -> Connection:
    with transaction.atomic():
        locked = Connection.objects.select_for_update().get(pk=conn.pk)
        for name in ("auto_sync", "sync_interval", "generate_challenges"):
            if name in fields:
                setattr(locked, name, fields[name])
        if "sync_filters" in fields:
            locked.sync_filters = {**locked.sync_filters, **fields["sync_filters"]}
            locked.cursors, locked.checkpoint = {}, {}  # what is included changed: read everything again
        if "sync_interval" in fields or fields.get("auto_sync"):
            base = locked.last_sync_at or now()
            locked.next_sync_at = max(now(), base + timedelta(seconds=locked.sync_interval))
        locked.save()
    return locked


def disconnect(conn: Connection) -> tuple[Connection, bool]:
    """Unsubscribe webhooks and revoke the grant where the provider allows it, then wipe every
    secret. Imported tasks stay: they are the user's now."""
    provider = get_provider(conn.service)
    revoked = False
    if conn.access_token_enc:
        tokens = tokens_of(conn)
        client = ApiClient(provider, tokens)
        if conn.webhooks:
            try:
                provider.unregister_webhooks(client, conn.webhooks)
            except ProviderError as exc:
                logger.info("could not remove %s webhooks of %s: %s", conn.service, conn.pk, exc)
        try:
            revoked = provider.revoke(tokens)
        except ProviderError as exc:
            logger.info("could not revoke the %s grant of %s: %s", conn.service, conn.pk, exc)
    with transaction.atomic():
        locked = Connection.objects.select_for_update().get(pk=conn.pk)
        locked.access_token_enc = locked.refresh_token_enc = locked.token_secret_enc = ""
        locked.token_expires_at = locked.refresh_expires_at = None
        locked.scope = ""
        locked.status = ConnectionStatus.DISCONNECTED
        locked.disconnected_at = now()
        locked.next_sync_at = None
        locked.webhooks, locked.checkpoint = [], {}
        locked.save()
    return locked, revoked


def register_webhooks(conn: Connection) -> list[dict]:
    provider = get_provider(conn.service)
    client = client_for(conn)
    sources = [Source(**s) for s in conn.sources] or provider.list_sources(client, conn.sync_filters)
    hooks = provider.register_webhooks(
        client,
        connection_id=conn.pk,
        sources=sources,
        callback_url=webhook_url(conn.service),
        secret=provider.webhook_secret(),
    )
    if hooks:
        Connection.objects.filter(pk=conn.pk).update(webhooks=conn.webhooks + hooks)
        conn.webhooks = conn.webhooks + hooks
    return hooks


RENEW_AHEAD = 24 * 3600


def renew_webhooks(conn: Connection) -> int:
    """Replace push channels that expire within a day (Google Drive channels live about a week;
    Trello webhooks do not expire). Returns how many were renewed."""
    horizon = (time.time() + RENEW_AHEAD) * 1000
    expiring = [h for h in conn.webhooks if h.get("expiration") and float(h["expiration"]) < horizon]
    if not expiring:
        return 0
    provider = get_provider(conn.service)
    client = client_for(conn)
    try:
        provider.unregister_webhooks(client, expiring)
    except ProviderError as exc:
        logger.info("could not stop expiring %s channels of %s: %s", conn.service, conn.pk, exc)
    keep = [h for h in conn.webhooks if h not in expiring]
    sources = [Source(**s) for s in conn.sources]
    new = provider.register_webhooks(
        client,
        connection_id=conn.pk,
        sources=sources,
        callback_url=webhook_url(conn.service),
        secret=provider.webhook_secret(),
    )
    Connection.objects.filter(pk=conn.pk).update(webhooks=keep + new)
    conn.webhooks = keep + new
    return len(new)


# ----------------------------------------------------------------------------------------------
# Sync
# ----------------------------------------------------------------------------------------------
@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    completed: int = 0
    deleted: int = 0
    skipped: int = 0
    new_tasks: list = field(default_factory=list)


class SyncLock:
    """`SET NX EX` with an owner token: one sync per connection at a time."""

    def __init__(self, connection_id: str):
        self.key = key("integrations", "sync", connection_id)
        self.token = uuid.uuid4().hex

    def acquire(self) -> bool:
        return bool(get_redis().set(self.key, self.token, nx=True, ex=SYNC_LOCK_TTL))

    def release(self) -> None:
        r = get_redis()
        if r.get(self.key) == self.token:
            r.delete(self.key)


def is_syncing(connection_id: str) -> bool:
    return bool(get_redis().exists(key("integrations", "sync", connection_id)))


def retry_delay(exc: RateLimited, retries: int) -> float:
    """The provider's own wait when it named one; Google's truncated exponential backoff else."""
    if exc.code == "backoff":
        return min(64.0, 2.0 ** (retries + 1)) + secrets.randbelow(1000) / 1000.0
    return exc.retry_after


def sync_connection(
    connection_id: str, *, trigger: str = SyncRun.Trigger.MANUAL, full: bool = False, refs: list[str] | None = None
) -> SyncRun | None:
    """Run (or resume) one sync of a connection. Returns the run, or None when the connection
    is not active. Raises SyncInProgress when another sync holds the lock, and RateLimited
    (with `.run_id` and the checkpoint stored) when the provider asked us to wait."""
    conn = Connection.objects.select_related("user").filter(pk=connection_id).first()
    if conn is None or not conn.is_active or not conn.access_token_enc:
        return None
    lock = SyncLock(conn.pk)
    if not lock.acquire():
        raise SyncInProgress("A sync of this integration is already running.")
    started = time.monotonic()
    run = None
    try:
        run = _open_run(conn, trigger=trigger, full=full, targeted=bool(refs))
        Connection.objects.filter(pk=conn.pk).update(status=ConnectionStatus.SYNCING)
        try:
            client = client_for(conn)
            if refs:
                _sync_refs(conn, run, client, refs)
            else:
                _sync_all(conn, run, client, full=run.full)
        except RateLimited as exc:
            _pause_run(conn, run, exc, started)
            exc.run_id = run.pk
            raise
        except NeedsReauth as exc:
            _fail_run(conn, run, exc, started, reauth=True)
            return run
        except AuthError as exc:  # still refused after a refresh: the grant is gone
            mark_needs_reauth(conn, f"the provider refused the token: {exc}")
            _fail_run(conn, run, exc, started, reauth=True)
            return run
        except ProviderError as exc:
            _fail_run(conn, run, exc, started)
            return run
        _finish_run(conn, run, started)
        return run
    finally:
        lock.release()


def _open_run(conn: Connection, *, trigger: str, full: bool, targeted: bool) -> SyncRun:
    checkpoint = conn.checkpoint or {}
    if not targeted and checkpoint.get("run_id"):
        run = SyncRun.objects.filter(pk=checkpoint["run_id"], connection=conn).first()
        if run is not None and run.status in (SyncRun.Status.RETRYING, SyncRun.Status.RUNNING):
            run.status = SyncRun.Status.RUNNING
            run.save(update_fields=["status", "updated_at"])
            return run
    return SyncRun.objects.create(connection=conn, user=conn.user, trigger=trigger, full=full, started_at=now())


def _pause_run(conn: Connection, run: SyncRun, exc: RateLimited, started: float) -> None:
    wait = retry_delay(exc, run.retries)
    run.status = SyncRun.Status.RETRYING
    run.retries += 1
    run.errors = [
        *run.errors,
        {"code": exc.code, "message": str(exc)[:300], "retry_after": round(wait, 3), "at": now().isoformat()},
    ][-20:]
    run.duration_ms = (run.duration_ms or 0) + int((time.monotonic() - started) * 1000)
    run.save()
    Connection.objects.filter(pk=conn.pk).update(
        status=ConnectionStatus.CONNECTED, next_sync_at=now() + timedelta(seconds=wait), updated_at=now()
    )
    logger.info("sync of %s paused by a rate limit; resuming in %.1fs", conn.pk, wait)


def _fail_run(conn: Connection, run: SyncRun, exc: ProviderError, started: float, *, reauth: bool = False) -> None:
    message = f"{exc.code}: {exc}"[:1000]
    with transaction.atomic():
        run.status = SyncRun.Status.FAILED
        run.error = message
        run.finished_at = now()
        run.duration_ms = (run.duration_ms or 0) + int((time.monotonic() - started) * 1000)
        run.save()
        values = {
            "last_sync_at": now(),
            "last_sync_success": False,
            "last_error": message,
            "checkpoint": {},
            "updated_at": now(),
        }
        if not reauth:
            values.update(status=ConnectionStatus.ERROR, next_sync_at=now() + timedelta(seconds=conn.sync_interval))
        Connection.objects.filter(pk=conn.pk).update(**values)
        if reauth:
            conn.status = ConnectionStatus.NEEDS_REAUTH
            message = f"needs_reauth: reconnect {get_provider(conn.service).name} ({exc})"[:1000]
            run.error = message
            run.save(update_fields=["error", "updated_at"])
        events.emit(INTEGRATION_FAILED, user=conn.user, connection=conn, run=run, error=message)
    logger.warning("sync of %s (%s) failed: %s", conn.pk, conn.service, message)


def _finish_run(conn: Connection, run: SyncRun, started: float) -> None:
    with transaction.atomic():
        run.status = (
            SyncRun.Status.PARTIAL
            if run.errors and any(e.get("code") == "item" for e in run.errors)
            else SyncRun.Status.SUCCEEDED
        )
        run.finished_at = now()
        run.duration_ms = (run.duration_ms or 0) + int((time.monotonic() - started) * 1000)
        run.save()
        fresh = Connection.objects.select_for_update().get(pk=conn.pk)
        if fresh.status == ConnectionStatus.SYNCING:
            fresh.status = ConnectionStatus.CONNECTED
        fresh.last_sync_at = now()
        fresh.next_sync_at = now() + timedelta(seconds=fresh.sync_interval)
        fresh.last_sync_success = True
        fresh.last_error = ""
        fresh.total_items_synced += run.created_count + run.updated_count
        if fresh.checkpoint.get("run_id") == run.pk:
            fresh.checkpoint = {}
        fresh.save()
        events.emit(INTEGRATION_SYNCED, user=conn.user, connection=fresh, run=run)


def _reconcile_due(cursor: dict) -> bool:
    full_at = cursor.get("full_at")
    if not full_at:
        return True
    return time.time() - float(full_at) >= settings.INTEGRATIONS_RECONCILE_SECONDS


def _sync_all(conn: Connection, run: SyncRun, client: ApiClient, *, full: bool) -> None:
    provider = get_provider(conn.service)
    checkpoint = conn.checkpoint if conn.checkpoint.get("run_id") == run.pk else {"run_id": run.pk, "done": []}
    if conn.checkpoint != checkpoint:  # a rate limit from here on resumes this same run
        Connection.objects.filter(pk=conn.pk).update(checkpoint=checkpoint)
        conn.checkpoint = checkpoint
    sources = provider.list_sources(client, conn.sync_filters or {})
    Connection.objects.filter(pk=conn.pk).update(sources=[s.as_dict() for s in sources])
    r = get_redis()
    for source in sources:
        if source.id in checkpoint.get("done", []):
            continue
        cursor = dict(conn.cursors.get(source.id) or {})
        resume, pending, src_full = None, None, full or not cursor.get("watermark") or _reconcile_due(cursor)
        if checkpoint.get("source") == source.id:
            resume, pending, src_full = (
                checkpoint.get("resume"),
                checkpoint.get("watermark"),
                checkpoint.get("full", src_full),
            )
        seen_key = key("integrations", "seen", run.pk, source.id)
        listed_all, extra = False, {}
        for page in provider.iter_pages(client, source, cursor=cursor, resume=resume, full=src_full):
            run.pages += 1
            extra.update(page.extra)
            if not page.skipped:
                counts = upsert_items(conn, run, page.items)
                _add_counts(run, counts, len(page.items))
                if page.complete_listing:
                    listed_all = True
                    if page.items:
                        r.sadd(seen_key, *[i.external_id for i in page.items])
                        r.expire(seen_key, SEEN_TTL)
                pending = provider.merge_watermark(pending, page.watermark)
            if page.resume:
                checkpoint = {
                    **checkpoint,
                    "source": source.id,
                    "resume": page.resume,
                    "watermark": pending,
                    "full": src_full,
                }
                Connection.objects.filter(pk=conn.pk).update(checkpoint=checkpoint)
                conn.checkpoint = checkpoint
            run.save(update_fields=_RUN_COUNTERS)
        # The whole loop of this source committed: now (and only now) move its cursor.
        with transaction.atomic():
            if listed_all:
                run.deleted_count += _mark_missing(conn, source.id, r.smembers(seen_key))
            cursor.update(extra)
            cursor["watermark"] = provider.merge_watermark(cursor.get("watermark"), pending)
            if src_full and listed_all:
                cursor["full_at"] = time.time()
            locked = Connection.objects.select_for_update().only("cursors", "checkpoint").get(pk=conn.pk)
            checkpoint = {"run_id": run.pk, "done": [*checkpoint.get("done", []), source.id]}
            locked.cursors = {**locked.cursors, source.id: cursor}
            Connection.objects.filter(pk=conn.pk).update(cursors=locked.cursors, checkpoint=checkpoint)
            conn.cursors, conn.checkpoint = locked.cursors, checkpoint
            run.save(update_fields=_RUN_COUNTERS)
        r.delete(seen_key)


_RUN_COUNTERS = [
    "pages",
    "items_seen",
    "created_count",
    "updated_count",
    "unchanged_count",
    "completed_count",
    "deleted_count",
    "skipped_count",
    "errors",
    "updated_at",
]


def _add_counts(run: SyncRun, counts: Counts, seen: int) -> None:
    run.items_seen += seen
    run.created_count += counts.created
    run.updated_count += counts.updated
    run.unchanged_count += counts.unchanged
    run.completed_count += counts.completed
    run.deleted_count += counts.deleted
    run.skipped_count += counts.skipped


def _sync_refs(conn: Connection, run: SyncRun, client: ApiClient, refs: list[str]) -> None:
    provider = get_provider(conn.service)
    for ref in dict.fromkeys(refs):
        item = provider.fetch_item(client, ref)
        run.pages += 1
        if item is None:
            with transaction.atomic():
                gone = list(
                    ImportedItem.objects.select_related("task").filter(
                        connection=conn, ref=ref, deleted_upstream_at__isnull=True
                    )
                )
                run.deleted_count += _mark_deleted(conn, gone)
            run.items_seen += 1
        else:
            _add_counts(run, upsert_items(conn, run, [item]), 1)
        run.save(update_fields=_RUN_COUNTERS)


# ----------------------------------------------------------------------------------------------
# Upsert
# ----------------------------------------------------------------------------------------------
def _wanted(conn: Connection, item: Item) -> bool:
    filters = conn.sync_filters or {}
    labels = {label.lower() for label in filters.get("labels") or []}
    if labels and not labels & {t.lower() for t in item.tags}:
        return False
    projects = set(filters.get("projects") or [])
    if projects and item.container and not ({item.container, item.source_id} & projects):
        return False
    statuses = set(filters.get("statuses") or [])
    return not (statuses and item.status not in statuses and item.status != "deleted")


LOCAL_STATUS = {"open": "pending", "in_progress": "in_progress", "completed": "completed", "cancelled": "cancelled"}


def _due(conn: Connection, item: Item) -> tuple[datetime | None, bool]:
    if item.due_date:
        return datetime.combine(item.due_date, dtime(23, 59, 59), tzinfo=conn.user.tzinfo), True
    return item.due_at, False


def _task_fields(conn: Connection, item: Item) -> dict:
    due, date_only = _due(conn, item)
    return {
        "title": item.title or "Untitled",
        "description": item.description,
        "due_date": due,
        "due_date_only": date_only,
        "tags": list(dict.fromkeys(t for t in item.tags if t))[:20],
        "source_url": item.url[:1000],
    }


def upsert_items(conn: Connection, run: SyncRun, items: list[Item]) -> Counts:
    """Write one page in one transaction: create what is new, update what changed (by content
    hash), complete through `complete_task`, mark deletions; unchanged items cost no write."""
    counts = Counts()
    if not items:
        return counts
    by_id: dict[str, Item] = {}
    for item in items:  # in-page dedupe: the last version wins
        by_id[item.external_id] = item
    with transaction.atomic():
        existing = {
            ii.external_id: ii
            for ii in ImportedItem.objects.select_related("task").filter(connection=conn, external_id__in=list(by_id))
        }
        to_create, to_update = [], []
        stamp = now()
        for external_id, item in by_id.items():
            digest = item.content_hash()
            ii = existing.get(external_id)
            if ii is not None and ii.content_hash == digest:
                counts.unchanged += 1
                continue
            if ii is None:
                if not _wanted(conn, item) or item.status == "deleted":
                    counts.skipped += 1
                    continue
                ii = ImportedItem(
                    connection=conn,
                    external_id=external_id,
                    source_id=item.source_id,
                    ref=item.ref,
                    url=item.url[:1000],
                )
                if item.status in ("completed", "cancelled"):
                    # Closed before we ever saw it: remembered, not turned into a task (no
                    # reward for history); it becomes a task if it is reopened upstream.
                    counts.skipped += 1
                else:
                    ii.task = _create_task(conn, item)
                    ii.task_created = True
                    counts.created += 1
                    counts.new_tasks.append(ii.task)
                _stamp_item(ii, item, digest, stamp)
                to_create.append(ii)
                continue
            _apply_change(conn, ii, item, counts)
            _stamp_item(ii, item, digest, stamp)
            to_update.append(ii)
        if to_create:
            ImportedItem.objects.bulk_create(to_create, batch_size=500)
        if to_update:
            ImportedItem.objects.bulk_update(
                to_update,
                [
                    "task",
                    "task_created",
                    "content_hash",
                    "upstream_status",
                    "upstream_updated_at",
                    "url",
                    "ref",
                    "source_id",
                    "deleted_upstream_at",
                    "last_seen_at",
                    "updated_at",
                ],
                batch_size=500,
            )
        if counts.new_tasks and conn.generate_challenges:
            _request_challenges(conn, counts.new_tasks)
    return counts


def _stamp_item(ii: ImportedItem, item: Item, digest: str, stamp: datetime) -> None:
    ii.content_hash = digest
    ii.upstream_status = item.status
    ii.upstream_updated_at = item.updated_at[:40]
    ii.url = item.url[:1000]
    ii.ref = item.ref[:500]
    ii.source_id = item.source_id[:255]
    ii.last_seen_at = stamp
    ii.updated_at = stamp
    if item.status != "deleted":
        ii.deleted_upstream_at = None


def _create_task(conn: Connection, item: Item):
    from tasks.services import create_task

    status = LOCAL_STATUS.get(item.status, "pending")
    return create_task(
        conn.user,
        understand=settings.INTEGRATIONS_UNDERSTAND_IMPORTS,
        type=conn.service,
        status=status,
        source=conn.service,
        source_id=item.external_id[:255],
        **_task_fields(conn, item),
    )


def _apply_change(conn: Connection, ii: ImportedItem, item: Item, counts: Counts) -> None:
    from tasks.services import complete_task, update_task

    previous = ii.upstream_status
    task = ii.task
    if task is None:
        if item.status == "deleted":
            counts.deleted += int(ii.deleted_upstream_at is None)
            ii.deleted_upstream_at = ii.deleted_upstream_at or now()
        elif not ii.task_created and item.status in ("open", "in_progress") and _wanted(conn, item):
            ii.task = _create_task(conn, item)  # reopened upstream: now it is work to do
            ii.task_created = True
            counts.created += 1
            counts.new_tasks.append(ii.task)
        else:
            counts.updated += 1
        return
    if item.status == "deleted":
        counts.deleted += _mark_deleted(conn, [ii], save=False)
        return
    fields = {name: value for name, value in _task_fields(conn, item).items() if getattr(task, name) != value}
    if fields:
        task, _ = update_task(conn.user, task, fields)
    if item.status != previous:
        if item.status == "completed":
            result = complete_task(conn.user, task, completed_at=item.completed_at, source=conn.service)
            task = result.task
            counts.completed += int(result.completed_now)
        elif item.status == "cancelled":
            if task.status not in ("completed", "cancelled"):
                task, _ = update_task(conn.user, task, {"status": "cancelled"})
        elif task.status in ("completed", "cancelled") or task.status != LOCAL_STATUS[item.status]:
            task, _ = update_task(conn.user, task, {"status": LOCAL_STATUS[item.status]})
    ii.task = task
    counts.updated += 1


def _mark_deleted(conn: Connection, items: list[ImportedItem], *, save: bool = True) -> int:
    """Deleted (or no longer visible) upstream: keep the tombstone, cancel the open task."""
    from tasks.services import update_task

    marked = 0
    stamp = now()
    for ii in items:
        if ii.deleted_upstream_at is None:
            marked += 1
        ii.deleted_upstream_at = ii.deleted_upstream_at or stamp
        ii.upstream_status = "deleted"
        ii.content_hash = ""
        if ii.task is not None and ii.task.status not in ("completed", "cancelled"):
            ii.task, _ = update_task(conn.user, ii.task, {"status": "cancelled"})
        if save:
            ii.save(update_fields=["deleted_upstream_at", "upstream_status", "content_hash", "updated_at"])
    return marked


def _mark_missing(conn: Connection, source_id: str, seen: set[str]) -> int:
    """After a complete listing: whatever we hold for this source and did not see is gone."""
    live = ImportedItem.objects.filter(connection=conn, source_id=source_id, deleted_upstream_at__isnull=True)
    missing_ids = [pk for pk, ext in live.values_list("pk", "external_id") if ext not in seen]
    if not missing_ids:
        return 0
    items = list(ImportedItem.objects.select_related("task").filter(pk__in=missing_ids))
    return _mark_deleted(conn, items)


def _request_challenges(conn: Connection, new_tasks: list) -> None:
    try:
        from challenges.services import request_generation
    except ImportError:  # challenges not installed
        return
    for task in new_tasks:
        if task.status in ("pending", "in_progress"):
            try:
                request_generation(conn.user, task)
            except Exception:  # noqa: BLE001 - a challenge failing never fails the import
                logger.warning("challenge generation for imported task %s failed", task.pk, exc_info=True)


# ----------------------------------------------------------------------------------------------
# Scheduling
# ----------------------------------------------------------------------------------------------
def claim_due_connections(limit: int = 500) -> list[str]:
    """Connections whose automatic sync is due; each is claimed (its next time moved) once,
    so overlapping beat ticks never enqueue the same connection twice."""
    current = now()
    due = (
        Connection.objects.filter(auto_sync=True, status__in=[ConnectionStatus.CONNECTED, ConnectionStatus.ERROR])
        .filter(Q(next_sync_at__lte=current) | Q(next_sync_at__isnull=True))
        .values_list("pk", "next_sync_at", "sync_interval")[:limit]
    )
    claimed = []
    for pk, next_at, interval in due:
        # Hold the slot for the lock TTL: a finished (or paused) run sets the real next time.
        hold = current + timedelta(seconds=max(interval, SYNC_LOCK_TTL))
        qs = Connection.objects.filter(pk=pk)
        qs = qs.filter(next_sync_at=next_at) if next_at else qs.filter(next_sync_at__isnull=True)
        if qs.update(next_sync_at=hold):
            claimed.append(pk)
    return claimed


# ----------------------------------------------------------------------------------------------
# Webhooks
# ----------------------------------------------------------------------------------------------
def webhook_secret(service: str) -> str:
    provider = get_provider(service)
    configured = provider.webhook_secret()
    if configured:
        return configured
    stored = ProviderSecret.objects.filter(service=service).first()
    return stored.value if stored else ""


def store_handshake_secret(service: str, token: str) -> bool:
    """Notion's first delivery carries the verification token that then signs every event.
    The first one is kept (encrypted); later ones are ignored (an attacker cannot swap it)."""
    if get_provider(service).webhook_secret() or not token:
        return False
    _, created = ProviderSecret.objects.get_or_create(service=service, defaults={"value_enc": crypto.encrypt(token)})
    if created:
        logger.warning(
            "stored the %s webhook verification token (paste it in the provider console to activate)", service
        )
    return created


def route_webhook(service: str, event: WebhookEvent) -> list[str]:
    active = [ConnectionStatus.CONNECTED, ConnectionStatus.ERROR, ConnectionStatus.SYNCING]
    qs = Connection.objects.filter(service=service, status__in=active)
    routing = event.routing
    if routing.get("account_ids") or routing.get("workspace_id"):
        cond = Q(external_account_id__in=routing.get("account_ids") or [])
        if routing.get("workspace_id") and not routing.get("account_ids"):
            cond |= Q(workspace_id=routing["workspace_id"])
        return list(qs.filter(cond).values_list("pk", flat=True))
    if routing.get("board_ids"):
        boards = set(routing["board_ids"])
        return [pk for pk, sources in qs.values_list("pk", "sources") if boards & {s.get("id") for s in sources or []}]
    if routing.get("channel_id"):
        parts = routing["channel_id"].split("-")
        conn = qs.filter(pk=parts[1] if len(parts) == 3 else "").first()
        if conn and any(h.get("channel_id") == routing["channel_id"] for h in conn.webhooks):
            return [conn.pk]
    return []


def accept_webhook(service: str, event: WebhookEvent) -> tuple[bool, list[str]]:
    """Record the delivery once and enqueue a targeted sync of each connection it concerns.
    Returns (new, connection ids); a replayed delivery id is (False, [])."""
    if not event.delivery_id:
        return False, []
    with transaction.atomic():
        try:
            with transaction.atomic():
                delivery = WebhookDelivery.objects.create(
                    service=service, delivery_id=event.delivery_id[:255], refs=event.refs[:50]
                )
        except IntegrityError:
            return False, []
        targets = route_webhook(service, event)
        delivery.connections = targets
        delivery.processed_at = now()
        delivery.save(update_fields=["connections", "processed_at", "updated_at"])
        refs = event.refs or None

        def enqueue():
            from integrations.tasks import sync_connection_task

            for pk in targets:
                try:
                    sync_connection_task.delay(pk, trigger=SyncRun.Trigger.WEBHOOK, refs=refs)
                except Exception:  # noqa: BLE001
                    logger.warning("could not enqueue the webhook sync of %s", pk, exc_info=True)

        transaction.on_commit(enqueue)
    return True, targets
