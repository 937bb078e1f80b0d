"""The error codes the kernel answers, and those every app shares.

Each app keeps the codes only it raises in its own `errors.py` (`TaskError`, `AccountError`,
...); raise sites name a member, never a string literal, so a code cannot be misspelt at one
site and every code the code base can answer is listed in one place per app. They are
`StrEnum`s: a member *is* its string, so the wire, the logs and `==` comparisons are unchanged.
deepiri/tests/test_error_codes.py checks every member against the catalogue of
docs/api-contract.md (socket codes: docs/realtime.md) and the other way round."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Envelope `code`s (and the field codes of `errorCodes`) shared by every app."""

    # envelope codes, by status
    VALIDATION_ERROR = "validation_error"
    INVALID_JSON = "invalid_json"
    TOO_DEEP = "too_deep"
    NULL_CHARACTER = "null_character"
    NUMBER_OUT_OF_RANGE = "number_out_of_range"
    UNSUPPORTED_API_VERSION = "unsupported_api_version"
    NOT_AUTHENTICATED = "not_authenticated"
    AUTHENTICATION_FAILED = "authentication_failed"
    PERMISSION_DENIED = "permission_denied"
    NOT_FOUND = "not_found"
    ROUTE_NOT_FOUND = "route_not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_ACCEPTABLE = "not_acceptable"
    ALREADY_EXISTS = "already_exists"
    CONFLICT = "conflict"
    IDEMPOTENCY_IN_PROGRESS = "idempotency_in_progress"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    PRECONDITION_FAILED = "precondition_failed"
    TOO_LARGE = "too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    RATE_LIMITED = "rate_limited"
    INTERNAL_ERROR = "internal_error"
    SERVICE_UNAVAILABLE = "service_unavailable"
    NOT_READY = "not_ready"

    # field codes (errorCodes); too_large, already_exists, not_found, conflict,
    # unsupported_api_version and not_ready above serve as field codes too
    MISSING_FIELD = "missing_field"
    INVALID = "invalid"
    INVALID_CHOICE = "invalid_choice"
    TOO_LONG = "too_long"
    TOO_SHORT = "too_short"
    TOO_SMALL = "too_small"
    UNKNOWN_FIELD = "unknown_field"
    UNKNOWN_PARAMETER = "unknown_parameter"
    WRONG_CASE = "wrong_case"


class ValidatorCode(StrEnum):
    """Django's and DRF's own validator codes, which the envelope renames (FIELD_CODES); named
    here for the few places that build such an error by hand."""

    REQUIRED = "required"
