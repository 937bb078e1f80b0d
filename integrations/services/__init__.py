"""Every state change of an integration (DESIGN.md §2), by job:

    connect.py   the OAuth dance and token connections, sync settings, disconnect
    tokens.py    the authenticated client, token refresh under a lock, `needs_reauth`
    sync.py      one sync run of a connection (lock, run record, page loop, cursors), due syncs
    upsert.py    provider items -> tasks (through `tasks.services`), deletions upstream
    webhooks.py  signing keys, verified deliveries -> targeted syncs, push-channel upkeep
    errors.py    the refusals the API turns into 4xx

Callers use this package's names (`services.sync_connection(...)`); reads live in
`integrations.selectors`.
"""

from integrations.services.connect import (
    browser_cookie,
    browser_cookie_path,
    complete_authorization,
    connect_with_credentials,
    consume_state,
    disconnect,
    provider_for,
    redirect_uri,
    start_authorization,
    store_connection,
    update_settings,
)
from integrations.services.errors import (
    IntegrationError,
    InvalidState,
    NeedsReauth,
    NotConfigured,
    NotConnected,
    SyncInProgress,
    SyncPaused,
)
from integrations.services.sync import (
    SyncRequested,
    claim_due_connections,
    is_syncing,
    pause_reason,
    refresh_pauses,
    request_sync,
    retry_delay,
    sync_connection,
)
from integrations.services.tokens import client_for, ensure_fresh_tokens, mark_needs_reauth, refresh_tokens, tokens_of
from integrations.services.upsert import Counts, upsert_items
from integrations.services.webhooks import (
    Accepted,
    accept_webhook,
    arm_verification,
    register_webhooks,
    renew_webhooks,
    route_webhook,
    store_handshake_secret,
    verification_armed_for,
    webhook_secret,
    webhook_url,
)

__all__ = [
    "Accepted",
    "arm_verification",
    "verification_armed_for",
    "Counts",
    "IntegrationError",
    "InvalidState",
    "NeedsReauth",
    "NotConfigured",
    "NotConnected",
    "SyncInProgress",
    "SyncPaused",
    "SyncRequested",
    "accept_webhook",
    "browser_cookie",
    "browser_cookie_path",
    "claim_due_connections",
    "client_for",
    "complete_authorization",
    "connect_with_credentials",
    "consume_state",
    "disconnect",
    "ensure_fresh_tokens",
    "is_syncing",
    "mark_needs_reauth",
    "pause_reason",
    "refresh_pauses",
    "provider_for",
    "redirect_uri",
    "refresh_tokens",
    "register_webhooks",
    "renew_webhooks",
    "request_sync",
    "retry_delay",
    "route_webhook",
    "start_authorization",
    "store_connection",
    "store_handshake_secret",
    "sync_connection",
    "tokens_of",
    "update_settings",
    "upsert_items",
    "webhook_secret",
    "webhook_url",
]
