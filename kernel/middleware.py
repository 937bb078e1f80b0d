from __future__ import annotations

import logging
import re
import sys
import time
import uuid

import pymongo
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, JsonResponse
from django.views.defaults import server_error as django_server_error

from kernel import tracing
from kernel.api.errors import ErrorCode
from kernel.api.exceptions import RETRY_AFTER_SECONDS, unavailable_dependency, unavailable_message
from kernel.logging import request_id_var, user_id_var
from kernel.redact import redact_path
from kernel.redis import request_budget as redis_budget

logger = logging.getLogger("deepiri.request")
access_logger = logging.getLogger("deepiri.access")
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# C0 controls and DEL: no id, search term or filter value contains them, and PostgreSQL refuses
# NUL in text outright (a 500 if it got that far).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class RequestIdMiddleware:
    """`X-Request-ID` on every response, taken from the request when it is a sane value (the
    gateway passes the client's or makes one), and one log line per request carrying it, so a
    request can be followed from the gateway's access log into the application's."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.log_requests = settings.LOG_REQUESTS

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = rid
        tracing.set_attributes(**{"deepiri.request_id": rid})  # find the trace from a request id
        token = request_id_var.set(rid)
        user_token = user_id_var.set("-")
        started = time.perf_counter()
        try:
            # one Redis budget and one MongoDB budget per request, however many calls it makes
            with redis_budget(), pymongo.timeout(settings.MONGODB_REQUEST_BUDGET):
                response = self.get_response(request)
            if self.log_requests:
                path = redact_path(request.path)  # a calendar feed's path is its credential
                access_logger.info(
                    "%s %s %s",
                    request.method,
                    path,
                    response.status_code,
                    extra={
                        "method": request.method,
                        "path": path,
                        "status": response.status_code,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    },
                )
        finally:
            request_id_var.reset(token)
            user_id_var.reset(user_token)
        response["X-Request-ID"] = rid
        return response


def control_character_in(request) -> str | None:
    """'path' or the name of the query parameter holding a control character, else None."""
    if _CONTROL.search(request.path):
        return "path"
    try:
        params = request.GET.lists()
    except Exception:  # undecodable query string: Django answers that itself
        return None
    for name, values in params:
        if _CONTROL.search(name):
            return "query"
        if any(_CONTROL.search(v) for v in values):
            return name
    return None


def dependency_error_response(request, dependency: str):
    """503 with Retry-After: the envelope on /api/, a plain page elsewhere (admin, accounts)."""
    message = unavailable_message(dependency)
    if request.path.startswith("/api/"):
        response = ApiErrorMiddleware._error(503, message, request)
    else:
        response = HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class ApiErrorMiddleware:
    """API-shaped answers for what happens before a view runs: oversized bodies (413),
    control characters in the path or query (400), unknown /api/ routes (404), a 503 when a
    backing service is down (every path), and a JSON 500 for API paths (the error is logged)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        is_api = request.path.startswith("/api/")
        if is_api:
            length = request.META.get("CONTENT_LENGTH") or "0"
            if length.isdigit() and int(length) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
                return self._error(413, "Request body too large", request)
        where = control_character_in(request)
        if where is not None:
            message = "Control characters are not allowed in the URL."
            if not is_api:
                return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
            return self._error(400, message, request, errors={where: [message]})
        response = self.get_response(request)
        if is_api and response.status_code == 404 and not response.get("Content-Type", "").startswith("application/json"):
            return self._error(404, "Route not found", request)
        return response

    def process_exception(self, request, exception):
        dependency = unavailable_dependency(exception)
        if dependency is not None:
            logger.warning("%s unavailable on %s %s: %s", dependency, request.method, request.path, exception)
            return dependency_error_response(request, dependency)
        if not request.path.startswith("/api/"):
            return None
        if isinstance(exception, RequestDataTooBig):
            return self._error(413, "Request body too large", request)
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return self._error(500, "Internal server error", request)

    CODES = {
        400: ErrorCode.VALIDATION_ERROR,
        404: ErrorCode.ROUTE_NOT_FOUND,
        413: ErrorCode.TOO_LARGE,
        503: ErrorCode.SERVICE_UNAVAILABLE,
    }

    @classmethod
    def _error(cls, status, message, request, errors=None):
        body = {
            "success": False,
            "code": cls.CODES.get(status, ErrorCode.INTERNAL_ERROR),
            "message": message,
            "requestId": getattr(request, "request_id", "-"),
        }
        if errors:
            body["errors"] = errors
            body["errorCodes"] = {field: [ErrorCode.INVALID] * len(messages) for field, messages in errors.items()}
        trace_id = tracing.current_trace_id()
        if trace_id != tracing.NO_TRACE:
            body["traceId"] = trace_id
        return JsonResponse(body, status=status)


def server_error(request, *args, **kwargs):
    """handler500: an exception that escaped a middleware (a session saved while the database is
    down, ...) still becomes a 503 when a backing service is the cause."""
    exc = sys.exc_info()[1]
    dependency = unavailable_dependency(exc) if exc is not None else None
    if dependency is not None:
        return dependency_error_response(request, dependency)
    if request.path.startswith("/api/"):
        return ApiErrorMiddleware._error(500, "Internal server error", request)
    return django_server_error(request)
