"""The error codes only challenges raises (shared ones: kernel.api.errors.ErrorCode and, on
sockets, realtime.errors.SocketError)."""

from __future__ import annotations

from enum import StrEnum


class ChallengeSocketError(StrEnum):
    """Socket `error` codes of challenge sessions (docs/realtime.md)."""

    INVALID_PROGRESS = "invalid_progress"
    SESSION_ENDED = "session_ended"
    ALREADY_FINISHED = "already_finished"
