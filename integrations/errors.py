"""The error codes only integrations raises (shared ones: kernel.api.errors.ErrorCode).

Provider errors (`ProviderError(code=...)`) are not here: their codes are the peer's reasons
(GitHub's, Notion's, ...), recorded on the connection for operators, never an envelope code."""

from __future__ import annotations

from enum import StrEnum


class IntegrationError(StrEnum):
    INVALID_SIGNATURE = "invalid_signature"  # 401: a webhook whose signature does not verify
    SYNC_CURSOR_EXPIRED = "sync_cursor_expired"  # 410: a sync cursor past retention or not ours: full sync


class IntegrationReason(StrEnum):
    """Validator codes that the envelope reports as the field code `invalid`."""

    LIMIT_REACHED = "limit_reached"
