"""One error shape for every failure (API.md):

    {"success": false, "code": "not_found", "message": "...", "errors"?: {"field": ["..."]},
     "errorCodes"?: {"field": ["missing_field"]}, "requestId": "...", "traceId"?: "..."}

`code` is stable snake_case for programs to branch on (the catalogue is in docs/api-contract.md);
`message` is for people and may change. `errorCodes` mirrors `errors` (same keys, same
positions) with a stable code per message, so a program can branch on a field error while
`errors` keeps the shape the web client reads.

`traceId` (the OpenTelemetry trace of the request) is there when tracing is on.
"""

from __future__ import annotations

import logging

import kombu.exceptions
import pymongo.errors
import redis.exceptions
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler

from kernel import tracing
from kernel.api.conditional import PreconditionFailed, etag_of
from kernel.api.errors import ErrorCode
from kernel.logging import current_request_id

logger = logging.getLogger(__name__)


class Conflict(exceptions.APIException):
    """409; `errors` (optional) names the fields in conflict, as a 400's field errors do."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = ErrorCode.CONFLICT

    def __init__(self, detail=None, code=None, errors=None):
        super().__init__(detail, code)
        self.errors = errors


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A service this request needs is unavailable."
    default_code = ErrorCode.SERVICE_UNAVAILABLE


RETRY_AFTER_SECONDS = 10


def _outage_types() -> tuple:
    """(exception types, service) of a connection-level failure of each backing service."""
    return (
        ((OperationalError, InterfaceError), "database"),
        ((redis.exceptions.ConnectionError, redis.exceptions.TimeoutError), "cache"),
        ((pymongo.errors.ConnectionFailure, pymongo.errors.ServerSelectionTimeoutError), "analytics store"),
        ((kombu.exceptions.OperationalError,), "job queue"),
    )


def unavailable_dependency(exc: BaseException) -> str | None:
    """The backing service whose outage `exc` reports ("database", "cache", ...), or None.

    Only connection-level failures count: an outage is the client's cue to retry later (503),
    while a bad query or a constraint is our bug or the client's input, never a 503."""
    for types, service in _outage_types():
        if isinstance(exc, types):
            return service
    return None


def unavailable_message(dependency: str) -> str:
    return f"The {dependency} is temporarily unavailable; try again shortly."


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = ErrorCode.TOO_LARGE


def _flatten(detail):
    if isinstance(detail, list):
        return [str(d) if not isinstance(d, (dict, list)) else d for d in detail]
    if isinstance(detail, dict):
        return {k: _flatten(v) for k, v in detail.items()}
    return [str(detail)]


# DRF's default codes, renamed where ours read better to a client.
CODE_ALIASES = {
    "throttled": ErrorCode.RATE_LIMITED,
    "parse_error": ErrorCode.INVALID_JSON,
}
STATUS_CODES = {
    400: ErrorCode.VALIDATION_ERROR,
    401: ErrorCode.NOT_AUTHENTICATED,
    403: ErrorCode.PERMISSION_DENIED,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    406: ErrorCode.NOT_ACCEPTABLE,
    409: ErrorCode.CONFLICT,
    412: ErrorCode.PRECONDITION_FAILED,
    413: ErrorCode.TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    429: ErrorCode.RATE_LIMITED,
    500: ErrorCode.INTERNAL_ERROR,
    503: ErrorCode.SERVICE_UNAVAILABLE,
}


# Field error codes (GitHub's style), from DRF's and Django's validator codes. A code not listed
# here becomes `invalid`, so `errorCodes` only ever holds the catalogued ones.
FIELD_CODES = {
    "required": "missing_field",
    "blank": "missing_field",
    "null": "missing_field",
    "empty": "missing_field",
    "max_length": "too_long",
    "max_string_length": "too_long",
    "min_length": "too_short",
    "max_value": "too_large",
    "min_value": "too_small",
    "unique": "already_exists",
    "does_not_exist": "not_found",
    "invalid_choice": "invalid_choice",
    "already_exists": "already_exists",
    "unknown_field": "unknown_field",
    "unknown_parameter": "unknown_parameter",
    "wrong_case": "wrong_case",
    "not_found": "not_found",
    "conflict": "conflict",
    "unsupported_api_version": "unsupported_api_version",
    "not_ready": "not_ready",
    # recurring tasks (tasks.recurrence)
    "invalid_rule": "invalid_rule",
    "rule_never_occurs": "rule_never_occurs",
    "recurrence_needs_due_date": "recurrence_needs_due_date",
}
FIELD_ERROR_CODES = frozenset(FIELD_CODES.values()) | {"invalid"}


def field_codes(errors, codes=None):
    """`errors` ({field: [message]}, nested as serializers nest them) with each message replaced
    by its catalogued code; `codes` is the same structure of raw codes (DRF's `get_codes()`)."""
    if isinstance(errors, dict):
        raw = codes if isinstance(codes, dict) else {}
        return {k: field_codes(v, raw.get(k, codes if isinstance(codes, str) else None)) for k, v in errors.items()}
    if isinstance(errors, list):
        raw = codes if isinstance(codes, list) and len(codes) == len(errors) else [codes] * len(errors)
        return [field_codes(v, c) for v, c in zip(errors, raw, strict=True)]
    code = codes if isinstance(codes, str) else getattr(errors, "code", None)
    return FIELD_CODES.get(code, "invalid")


def _leaves(tree):
    if isinstance(tree, dict):
        for v in tree.values():
            yield from _leaves(v)
    elif isinstance(tree, list):
        for v in tree:
            yield from _leaves(v)
    else:
        yield tree


def error_body(
    message: str, errors=None, code: str | None = None, status: int | None = None, error_codes=None
) -> dict:
    code = code or STATUS_CODES.get(status or 0, "error")
    body = {"success": False, "code": code, "message": message, "request_id": current_request_id()}
    trace_id = tracing.current_trace_id()
    if trace_id != tracing.NO_TRACE:
        body["trace_id"] = trace_id
    if errors:
        body["errors"] = errors
        body["error_codes"] = error_codes if error_codes is not None else field_codes(errors, code)
    return body


MESSAGES = {
    400: "Validation error",
    401: "Authentication required",
    403: "You do not have permission to perform this action.",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    429: "Too many requests",
}


def _code_for(exc, status_code: int) -> str:
    if isinstance(exc, exceptions.ValidationError):
        return "validation_error"
    codes = exc.get_codes() if hasattr(exc, "get_codes") else None
    if isinstance(codes, dict):  # e.g. simplejwt: {"detail": "token_not_valid", "code": ...}
        codes = codes.get("code") or codes.get("detail")
    code = codes if isinstance(codes, str) else getattr(exc, "default_code", None)
    code = CODE_ALIASES.get(code, code)
    return code or STATUS_CODES.get(status_code, "error")


def _resource_name(context) -> str | None:
    """The resource a view serves ("Task"), for a 404 that says what was not found."""
    view = (context or {}).get("view")
    name = getattr(view, "resource_name", None)
    if name:
        return name
    queryset = getattr(view, "queryset", None)
    model = getattr(queryset, "model", None)
    return str(model._meta.verbose_name).capitalize() if model is not None else None


def exception_handler(exc, context):
    dependency = unavailable_dependency(exc)
    if dependency is not None:
        logger.warning("%s unavailable: %s: %s", dependency, type(exc).__name__, exc)
        exc = ServiceUnavailable(unavailable_message(dependency))
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, Http404):
        # Keep what the raiser said ("Task not found" from the tasks selector, while the view
        # serves challenges); only Django's generic wording is replaced by the view's resource.
        said = str(exc)
        exc = exceptions.NotFound(None if not said or said.startswith("No ") else said)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # unexpected: Django's 500 handling (logged) takes over
    detail = response.data
    errors = error_codes = None
    code = _code_for(exc, response.status_code)
    if isinstance(exc, exceptions.ValidationError):
        raw_codes = exc.get_codes()
        if isinstance(detail, dict):
            errors = _flatten(detail)
            non_field = errors.get("non_field_errors")
            message = non_field[0] if non_field and len(errors) == 1 else MESSAGES[400]
        else:
            errors = {"non_field_errors": _flatten(detail)}
            raw_codes = {"non_field_errors": raw_codes}
            message = errors["non_field_errors"][0]
        error_codes = field_codes(detail if isinstance(detail, dict) else {"non_field_errors": detail}, raw_codes)
        leaves = set(_leaves(error_codes))
        if leaves == {"already_exists"}:
            # Only duplicates: nothing about the body is wrong, it collides with what exists.
            response.status_code = status.HTTP_409_CONFLICT
            code = "already_exists"
            message = next(iter(_leaves(errors)))
    else:
        raw = detail.get("detail") if isinstance(detail, dict) else detail
        message = str(raw) if raw else MESSAGES.get(response.status_code, "Error")
        if isinstance(exc, exceptions.NotFound) and message in ("Not found.", MESSAGES[404]):
            resource = _resource_name(context)
            if resource:
                message = f"{resource} not found."
        errors = getattr(exc, "errors", None)
    response.data = error_body(message, errors, code=code, error_codes=error_codes)
    if isinstance(exc, PreconditionFailed) and exc.current is not None:
        # The resource as it is now, so the client can merge and retry with its ETag.
        response.data["data"] = exc.current
        response["ETag"] = etag_of(exc.current, exc.version)
    if response.status_code == 503:
        response["Retry-After"] = response.get("Retry-After", str(RETRY_AFTER_SECONDS))
    if response.status_code == 401:
        response["WWW-Authenticate"] = response.get("WWW-Authenticate", 'Bearer realm="api"')
    return response
