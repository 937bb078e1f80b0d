"""The error codes only analytics raises (shared ones: kernel.api.errors.ErrorCode)."""

from __future__ import annotations

from enum import StrEnum


class AnalyticsError(StrEnum):
    REBUILDING = "rebuilding"  # 503: the user's store is being rebuilt from PostgreSQL
