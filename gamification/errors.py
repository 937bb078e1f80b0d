"""The error codes only gamification raises (shared ones: kernel.api.errors.ErrorCode)."""

from __future__ import annotations

from enum import StrEnum


class GamificationError(StrEnum):
    REBUILD_IN_PROGRESS = "rebuild_in_progress"  # 503: the leaderboards are being rebuilt
