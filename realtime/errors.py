"""The codes of a socket's `error {code, message}` event (catalogue: docs/realtime.md).

Socket codes are their own vocabulary (a socket has no HTTP status); kernel.api.errors.ErrorCode
members whose meaning is the same (`not_found`, `too_large`, `rate_limited`, `conflict`,
`invalid_json`) are not repeated here, and a command answers with either."""

from __future__ import annotations

from enum import StrEnum


class SocketError(StrEnum):
    INVALID_MESSAGE = "invalid_message"
    UNKNOWN_TYPE = "unknown_type"
    UNSUPPORTED = "unsupported"
    INVALID_ROOM = "invalid_room"
    TOO_MANY_ROOMS = "too_many_rooms"
    FORBIDDEN = "forbidden"
    NOT_JOINED = "not_joined"
    SERVER_ERROR = "server_error"
