"""Request context for logs: every record carries the request id, the user id and, when
tracing is on, the trace id (`-` otherwise), so a worker's lines join the request's."""

from __future__ import annotations

import logging
from contextvars import ContextVar

from kernel import tracing

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")
user_id_var: ContextVar[str] = ContextVar("user_id", default="-")
# A job's caller's trace id, when the worker itself is not tracing (deepiri/celery.py).
trace_id_var: ContextVar[str] = ContextVar("trace_id", default="-")


def current_request_id() -> str:
    return request_id_var.get()


class RequestContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.user_id = user_id_var.get()
        trace_id = tracing.current_trace_id()
        record.trace_id = trace_id_var.get() if trace_id == tracing.NO_TRACE else trace_id
        return True


class HandledUnavailableFilter(logging.Filter):
    """On `django.request`: a 503 is an answer we chose (a dependency is down or hung, the boards
    are being rebuilt), already logged once at WARNING where it was decided. Django's request
    logger reports every 5xx at ERROR; for a 503 that turned a short outage into hundreds of
    ERROR lines and fired error-rate alerts on handled degradation. Such records go out at
    WARNING; a real 500 stays ERROR."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and getattr(record, "status_code", None) == 503:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True
