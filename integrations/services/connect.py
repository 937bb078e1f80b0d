"""Connecting and disconnecting: the OAuth dance (a single-use, expiring `state` bound to the
user who started it), token connections, storing tokens encrypted, sync settings, disconnect
(unsubscribe, revoke, wipe the secrets)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations import crypto
from integrations.models import AuthType, Connection, ConnectionStatus, OAuthState, SyncRun
from integrations.providers import get_provider, slugs
from integrations.providers.base import (
    Account,
    ApiClient,
    AuthError,
    InvalidGrant,
    NotFound,
    ProviderError,
    RateLimited,
    TokenSet,
    TransientError,
)
from integrations.services import job_names
from integrations.services.errors import IntegrationError, InvalidState, NotConfigured
from integrations.services.tokens import set_tokens, tokens_of
from integrations.services.webhooks import LOCAL_PUBLIC_URL
from kernel import jobs

logger = logging.getLogger("integrations")


def redirect_uri(service: str) -> str:
    return f"{settings.INTEGRATIONS_PUBLIC_URL.rstrip('/') or LOCAL_PUBLIC_URL}/api/integrations/{service}/callback"


def provider_for(service: str):
    if service not in slugs():
        raise IntegrationError(f"Unknown service '{service}'.", field="service")
    return get_provider(service)


# What the provider may put in `error` (RFC 6749 §4.1.2.1), in our words: its own text (and
# `error_description`) is never shown, so a crafted link cannot put words in our mouth.
_DECLINED = {
    "access_denied": "You declined the connection at {name}.",
    "temporarily_unavailable": "{name} is unavailable right now; try again later.",
    "server_error": "{name} is unavailable right now; try again later.",
}


def browser_cookie(service: str) -> str:
    """The cookie that ties an authorization to the browser that started it."""
    return f"deepiri_oauth_{service}"


def browser_cookie_path(service: str) -> str:
    """Sent only to this provider's callback (behind whatever prefix the public URL has)."""
    return urlsplit(redirect_uri(service)).path


def _digest(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def start_authorization(user, service: str) -> tuple[str, OAuthState, str]:
    """Create a single-use, expiring `state` bound to `user` and to the starting browser, and
    return (authorize URL, state row, browser nonce). The caller hands the nonce to that
    browser only (an HttpOnly cookie); the callback must bring it back with the state, so an
    authorize link finished in another browser (a victim lured to the attacker's link) links
    nothing. Only its hash is stored."""
    provider = provider_for(service)
    if not provider.configured:
        raise NotConfigured(f"{provider.name} is not configured on this server.", field="service")
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)[:96] if provider.supports_pkce else None
    uri = redirect_uri(service)
    try:
        start = provider.authorize(state=state, redirect_uri=uri, code_verifier=verifier)
    except ProviderError as exc:  # Trello's request-token call can fail
        logger.info("%s refused to start an authorization: %s", service, exc)
        raise IntegrationError(f"{provider.name} refused to start the authorization; try again later.") from exc
    nonce = secrets.token_urlsafe(32)
    row = OAuthState.objects.create(
        state=state,
        browser_hash=_digest(nonce),
        user=user,
        service=service,
        redirect_uri=uri,
        code_verifier_enc=crypto.encrypt(verifier or ""),
        extra_enc=crypto.encrypt(json.dumps(start.extra)) if start.extra else "",
        expires_at=timezone.now() + timedelta(seconds=settings.INTEGRATIONS_STATE_TTL),
    )
    return start.url, row, nonce


def consume_state(service: str, state: str, browser_nonce: str | None) -> OAuthState:
    """Take the state exactly once (even if the exchange then fails). A state presented by a
    browser without the starting browser's nonce is burnt too: that link was stolen."""
    if not state:
        raise InvalidState("The authorization state is missing.")
    with transaction.atomic():
        row = OAuthState.objects.select_for_update().select_related("user").filter(state=state, service=service).first()
        if row is None:
            raise InvalidState("The authorization state is unknown.")
        if row.used_at is not None:
            raise InvalidState("The authorization state was already used.")
        if row.expires_at <= timezone.now():
            raise InvalidState("The authorization state has expired.")
        same_browser = bool(
            browser_nonce and row.browser_hash and hmac.compare_digest(_digest(browser_nonce), row.browser_hash)
        )
        row.used_at = timezone.now()
        row.save(update_fields=["used_at", "updated_at"])
    if not same_browser:
        logger.warning("OAuth callback for %s (user %s) came from another browser; refused", service, row.user_id)
        raise InvalidState("This connection was started in another browser; start it again here.")
    return row


def complete_authorization(service: str, params: dict, *, browser_nonce: str | None) -> Connection:
    """The OAuth callback: check the state and the browser, exchange the code, store the
    tokens encrypted."""
    provider = provider_for(service)
    row = consume_state(service, params.get("state", ""), browser_nonce)
    if not row.user.is_active:
        raise InvalidState("The account that started this authorization is inactive.")
    if params.get("error"):
        logger.info("%s authorization ended with error=%.100r", service, params["error"])
        message = _DECLINED.get(params["error"], "{name} could not authorize the connection.")
        raise IntegrationError(message.format(name=provider.name))
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
        logger.info("%s could not complete an authorization: %s", service, exc)
        if exc.code == "scope_denied":
            raise IntegrationError(
                f"The {provider.name} access Deepiri needs was not granted; allow it and try again."
            ) from exc
        raise IntegrationError(f"{provider.name} could not complete the connection; try again.") from exc
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
        set_tokens(conn, tokens)
        conn.external_account_id = account.id or conn.external_account_id
        conn.external_account_name = account.name or conn.external_account_name
        conn.workspace_id = account.workspace_id or conn.workspace_id
        conn.status = ConnectionStatus.CONNECTED
        conn.connected_at = timezone.now()
        conn.disconnected_at = None
        conn.last_error = ""
        conn.next_sync_at = timezone.now()
        try:
            conn.save()
        except IntegrityError:  # a concurrent first connect won the insert
            raise IntegrationError("This service is being connected in another request; try again.") from None
        # Queued with the connection, in its transaction (the outbox): a first sync is never lost.
        jobs.enqueue_on_commit(job_names.SYNC_CONNECTION, conn.pk, trigger=SyncRun.Trigger.CONNECT)
        if settings.INTEGRATIONS_REGISTER_WEBHOOKS:
            jobs.enqueue_on_commit(job_names.REGISTER_WEBHOOKS, conn.pk)
    return conn


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
            base = locked.last_sync_at or timezone.now()
            locked.next_sync_at = max(timezone.now(), base + timedelta(seconds=locked.sync_interval))
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
        locked.disconnected_at = timezone.now()
        locked.next_sync_at = None
        locked.webhooks, locked.checkpoint = [], {}
        locked.save()
    return locked, revoked
