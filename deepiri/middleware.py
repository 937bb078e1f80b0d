from __future__ import annotations

import logging
import re
import time
import uuid

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse

from deepiri import tracing
from deepiri.logging import request_id_var, user_id_var

logger = logging.getLogger("deepiri.request")
access_logger = logging.getLogger("deepiri.access")
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


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
            response = self.get_response(request)
            if self.log_requests:
                access_logger.info(
                    "%s %s %s",
                    request.method,
                    request.path,
                    response.status_code,
                    extra={
                        "method": request.method,
                        "path": request.path,
                        "status": response.status_code,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    },
                )
        finally:
            request_id_var.reset(token)
            user_id_var.reset(user_token)
        response["X-Request-ID"] = rid
        return response


class ApiErrorMiddleware:
    """API-shaped answers for what happens before a view runs: oversized bodies (413),
    unknown /api/ routes (404), and a JSON 500 for API paths (the error is logged)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        is_api = request.path.startswith("/api/")
        if is_api:
            length = request.META.get("CONTENT_LENGTH") or "0"
            if length.isdigit() and int(length) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
                return self._error(413, "Request body too large", request)
        response = self.get_response(request)
        if is_api and response.status_code == 404 and not response.get("Content-Type", "").startswith("application/json"):
            return self._error(404, "Route not found", request)
        return response

    def process_exception(self, request, exception):
        if not request.path.startswith("/api/"):
            return None
        if isinstance(exception, RequestDataTooBig):
            return self._error(413, "Request body too large", request)
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return self._error(500, "Internal server error", request)

    @staticmethod
    def _error(status, message, request):
        body = {
            "success": False,
            "code": {404: "route_not_found", 413: "too_large"}.get(status, "internal_error"),
            "message": message,
            "requestId": getattr(request, "request_id", "-"),
        }
        trace_id = tracing.current_trace_id()
        if trace_id != tracing.NO_TRACE:
            body["traceId"] = trace_id
        return JsonResponse(body, status=status)
