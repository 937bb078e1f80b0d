"""Connections to task sources, what they imported, how each sync went, and the one-time state
of OAuth dances and webhook deliveries.

Secrets (access/refresh tokens, OAuth 1.0a secrets, PKCE verifiers) are stored only as Fernet
tokens (`integrations.crypto`), never serialized, and wiped on disconnect.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from integrations import crypto
from integrations.calendar.models import CalendarFeed  # noqa: F401 - its sub-package's model, registered with this app
from integrations.sync.models import SyncChange  # noqa: F401 - its sub-package's model, registered with this app
from integrations.webhooks.models import (  # noqa: F401 - this app's tables
    EndpointDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from kernel.models import BaseModel, label_of
from kernel.versioning import version_field


class Service(models.TextChoices):
    NOTION = "notion", "Notion"
    TRELLO = "trello", "Trello"
    GITHUB = "github", "GitHub"
    GOOGLE_DOCS = "google_docs", "Google Docs"


class ConnectionStatus(models.TextChoices):
    CONNECTED = "connected"
    SYNCING = "syncing"
    ERROR = "error"
    NEEDS_REAUTH = "needs_reauth"
    DISCONNECTED = "disconnected"


class AuthType(models.TextChoices):
    OAUTH2 = "oauth2"
    OAUTH1 = "oauth1"
    TOKEN = "token"  # noqa: S105 - an auth kind, not a secret


def default_filters() -> dict:
    return {"labels": [], "projects": [], "statuses": [], "documents": []}


class Connection(BaseModel):
    """One user's link to one provider (unique per user and provider)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="integration_connections")
    service = models.CharField(max_length=20, choices=Service.choices)
    status = models.CharField(max_length=20, choices=ConnectionStatus.choices, default=ConnectionStatus.CONNECTED)
    auth_type = models.CharField(max_length=10, choices=AuthType.choices, default=AuthType.OAUTH2)

    # --- secrets (encrypted) -------------------------------------------------------------------
    access_token_enc = models.TextField(blank=True, default="")
    refresh_token_enc = models.TextField(blank=True, default="")
    token_secret_enc = models.TextField(blank=True, default="")
    token_expires_at = models.DateTimeField(null=True, blank=True)
    refresh_expires_at = models.DateTimeField(null=True, blank=True)
    scope = models.CharField(max_length=1000, blank=True, default="")
    token_version = models.PositiveIntegerField(default=0)  # bumped on every refresh (rotation)

    # --- who at the provider -------------------------------------------------------------------
    external_account_id = models.CharField(max_length=255, blank=True, default="", db_index=True)
    external_account_name = models.CharField(max_length=255, blank=True, default="")
    workspace_id = models.CharField(max_length=255, blank=True, default="", db_index=True)

    # --- configuration (API.md PATCH {service}) ------------------------------------------------
    auto_sync = models.BooleanField(default=True)
    sync_interval = models.PositiveIntegerField(default=3600, help_text="seconds between automatic syncs")
    sync_filters = models.JSONField(default=default_filters, blank=True)
    generate_challenges = models.BooleanField(default=False)

    # --- sync state ----------------------------------------------------------------------------
    sources = models.JSONField(default=list, blank=True)  # last listing: [{id, name, kind, url}]
    cursors = models.JSONField(default=dict, blank=True)  # source id -> {watermark, etag, full_at}
    checkpoint = models.JSONField(default=dict, blank=True)  # an interrupted run: {run_id, source, resume, ...}
    webhooks = models.JSONField(default=list, blank=True)  # hooks/channels registered for this connection
    last_sync_at = models.DateTimeField(null=True, blank=True)
    next_sync_at = models.DateTimeField(null=True, blank=True)
    last_sync_success = models.BooleanField(default=True)
    last_error = models.CharField(max_length=1000, blank=True, default="")
    # Why syncing is paused (its provider is not configured on this server); empty when it is not.
    # db_default: code of the previous release inserts rows without this column during a deploy.
    paused_reason = models.CharField(max_length=300, blank=True, default="", db_default="")
    total_items_synced = models.PositiveIntegerField(default=0)
    connected_at = models.DateTimeField(null=True, blank=True)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    version = version_field()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "service"], name="integration_one_per_service")]
        indexes = [
            models.Index(
                fields=["next_sync_at"], name="integration_due", condition=Q(auto_sync=True, status="connected")
            ),
        ]

    def __str__(self):
        return f"{self.get_service_display()} for {label_of(self, 'user')}"

    # --- secrets accessors ---------------------------------------------------------------------
    @property
    def access_token(self) -> str:
        return crypto.decrypt(self.access_token_enc)

    @access_token.setter
    def access_token(self, value: str) -> None:
        self.access_token_enc = crypto.encrypt(value)

    @property
    def refresh_token(self) -> str:
        return crypto.decrypt(self.refresh_token_enc)

    @refresh_token.setter
    def refresh_token(self, value: str) -> None:
        self.refresh_token_enc = crypto.encrypt(value)

    @property
    def token_secret(self) -> str:
        return crypto.decrypt(self.token_secret_enc)

    @token_secret.setter
    def token_secret(self, value: str) -> None:
        self.token_secret_enc = crypto.encrypt(value)

    @property
    def is_active(self) -> bool:
        return self.status in (ConnectionStatus.CONNECTED, ConnectionStatus.SYNCING, ConnectionStatus.ERROR)


class ImportedItem(BaseModel):
    """One upstream item, imported once: unique (connection, external id)."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="items")
    external_id = models.CharField(max_length=255)
    source_id = models.CharField(max_length=255, blank=True, default="")
    ref = models.CharField(max_length=500, blank=True, default="")
    task = models.ForeignKey("tasks.Task", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # A task was made for it once: if `task` is now empty the user deleted it, and it stays deleted.
    task_created = models.BooleanField(default=False)
    content_hash = models.CharField(max_length=40, blank=True, default="")
    upstream_status = models.CharField(max_length=20, blank=True, default="open")
    upstream_updated_at = models.CharField(max_length=40, blank=True, default="")
    url = models.URLField(max_length=1000, blank=True, default="")
    deleted_upstream_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "external_id"], name="imported_item_unique")]
        indexes = [models.Index(fields=["connection", "source_id"], name="imported_item_source")]


class SyncRun(BaseModel):
    class Status(models.TextChoices):
        RUNNING = "running"
        RETRYING = "retrying"  # stopped by a rate limit; resumes at the provider's time
        SUCCEEDED = "succeeded"
        PARTIAL = "partial"  # finished, some items failed
        FAILED = "failed"

    class Trigger(models.TextChoices):
        MANUAL = "manual"
        SCHEDULE = "schedule"
        WEBHOOK = "webhook"
        CONNECT = "connect"

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="runs")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    trigger = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.MANUAL)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    full = models.BooleanField(default=False)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    pages = models.PositiveIntegerField(default=0)
    items_seen = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    completed_count = models.PositiveIntegerField(default=0)
    deleted_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    retries = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    error = models.CharField(max_length=1000, blank=True, default="")
    # How a failed run failed (`ProviderError.failure_class`): refused, dns, timeout,
    # connection, circuit_open, http_<status>, or the error's code. A database default, so the
    # previous release's code (which does not know the column) still inserts runs.
    error_class = models.CharField(max_length=40, blank=True, default="", db_default="")

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["connection", "-started_at"], name="sync_run_connection")]


class OAuthState(BaseModel):
    """The `state` of one authorization: bound to the user and the browser, single-use, expiring."""

    state = models.CharField(max_length=128, unique=True)
    # sha256 of the nonce held (as an HttpOnly cookie) by the browser that started the flow
    browser_hash = models.CharField(max_length=64, blank=True, default="")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    service = models.CharField(max_length=20, choices=Service.choices)
    redirect_uri = models.URLField(max_length=500)
    code_verifier_enc = models.TextField(blank=True, default="")
    extra_enc = models.TextField(blank=True, default="")  # OAuth 1.0a request token + secret
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)


class WebhookDelivery(BaseModel):
    """Each delivery id is processed once (providers retry; attackers replay)."""

    service = models.CharField(max_length=20, choices=Service.choices)
    delivery_id = models.CharField(max_length=255)
    event_type = models.CharField(max_length=100, blank=True, default="")
    connections = models.JSONField(default=list, blank=True)
    refs = models.JSONField(default=list, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["service", "delivery_id"], name="webhook_delivery_once")]


class ProviderSecret(BaseModel):
    """App-level webhook secrets learned at run time (Notion's verification token), encrypted."""

    service = models.CharField(max_length=20, choices=Service.choices, unique=True)
    value_enc = models.TextField()

    @property
    def value(self) -> str:
        return crypto.decrypt(self.value_enc)

