"""The refusals integration services raise; the API turns `IntegrationError` into a 4xx."""

from __future__ import annotations

from integrations.providers.base import ProviderError


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


class SyncPaused(IntegrationError):
    """The connection's provider is not configured on this server."""

    status = 409
    code = "sync_paused"


class NeedsReauth(ProviderError):
    code = "needs_reauth"
