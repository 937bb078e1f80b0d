"""The error codes only accounts raises (shared ones: kernel.api.errors.ErrorCode)."""

from __future__ import annotations

from enum import StrEnum


class AccountError(StrEnum):
    """Envelope codes (401/403) of authentication and personal access tokens."""

    # S105 takes names with TOKEN in them for passwords; these are error codes

    TOKEN_NOT_VALID = "token_not_valid"  # noqa: S105
    USER_NOT_FOUND = "user_not_found"
    TOKEN_EXPIRED = "token_expired"  # noqa: S105
    INSUFFICIENT_SCOPE = "insufficient_scope"
    TOKEN_NOT_ALLOWED = "token_not_allowed"  # noqa: S105


class AccountReason(StrEnum):
    """Validator codes that the envelope reports as the field code `invalid` (they are not in
    FIELD_CODES): they name the reason inside the process (Django validation, tests)."""

    DUPLICATE = "duplicate"
    IN_PAST = "in_past"
    TOO_FAR = "too_far"
    CONTROL_CHARACTERS = "control_characters"
    INVALID_TIMEZONE = "invalid_timezone"
