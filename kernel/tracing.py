"""OpenTelemetry tracing: off unless configured, set up once per process.

On when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, or when
`OTEL_TRACES_EXPORTER` names `console`; `OTEL_SDK_DISABLED=true` turns it off again. When off
nothing is instrumented and nothing of the SDK is imported: the helpers below return at the
first line, so an untraced process pays one boolean test per call.

`setup(role)` is called from the process entry points (deepiri/wsgi.py, deepiri/asgi.py, the
Celery worker's `worker_init`) before Django loads its middleware or opens a connection. It
puts `ServerSpanMiddleware` first in the middleware chain (a server span per request, the W3C
`traceparent` of the caller continued) and instruments Celery (the
context travels in the task message headers, so a task's spans join the request that queued
it), requests (`traceparent` sent to the AI service and the providers), psycopg, redis and
pymongo.

Domain code adds spans with `span(name, **attributes)`; log records get `trace_id`
(kernel.logging) and error envelopes `traceId` from `current_trace_id()`.

The provider is ours, not the API's global one, and is handed to every instrumentor, so a test
can set tracing up with an in-memory exporter and take it down again (`shutdown()`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed

# the API alone, a no-op without a provider; the SDK, exporters and instrumentors load in setup()
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import SpanKind, Status, StatusCode

from kernel.redact import redact_path

logger = logging.getLogger(__name__)

ENABLED = False
_provider = None
_tracer = None
_instrumentors: list = []
_undo: list = []  # callables that take back what _instrument changed outside an instrumentor
_lock = threading.Lock()
NO_TRACE = "-"


def configured(environ=None) -> bool:
    """Whether the environment asks for traces."""
    environ = os.environ if environ is None else environ
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return True
    exporters = {e.strip().lower() for e in environ.get("OTEL_TRACES_EXPORTER", "").split(",")}
    return "console" in exporters


def setup(role: str, *, exporter=None, simple: bool = False) -> bool:
    """Turn tracing on for this process when configured (or when `exporter` is given, as tests
    do). `role` names the process (web, worker): the service name is `OTEL_SERVICE_NAME` or
    `deepiri-<role>`. Idempotent; returns whether tracing is on."""
    global ENABLED, _provider, _tracer
    _load_settings()  # the settings module reads `.env`, where the OTEL_ variables may be
    with _lock:
        if ENABLED:
            return True
        if exporter is None and not configured():
            return False

        from opentelemetry.sdk.resources import Resource  # noqa: PLC0415 - only when tracing is on
        from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415 - only when tracing is on
        from opentelemetry.sdk.trace.export import (  # noqa: PLC0415 - only when tracing is on
            BatchSpanProcessor,
            SimpleSpanProcessor,
        )

        service = os.environ.get("OTEL_SERVICE_NAME") or f"deepiri-{role}"
        provider = TracerProvider(
            resource=Resource.create({"service.name": service, "deepiri.role": role}), sampler=_sampler()
        )
        if exporter is not None:
            provider.add_span_processor(SimpleSpanProcessor(exporter) if simple else BatchSpanProcessor(exporter))
        else:
            exporters = {e.strip().lower() for e in os.environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",")}
            if "console" in exporters:
                from opentelemetry.sdk.trace.export import (  # noqa: PLC0415 - only when tracing is on
                    ConsoleSpanExporter,
                )

                provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
            if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
                # reads the endpoint, headers, timeout and compression from the OTEL_ variables
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415 - only when tracing is on
                    OTLPSpanExporter,
                )

                provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        _provider = provider
        _tracer = provider.get_tracer("deepiri")
        _instrument(provider)
        ENABLED = True
    logger.info("tracing on (service %s)", service)
    return True


def _load_settings() -> None:
    # without a settings module the environment alone decides
    with contextlib.suppress(Exception):
        settings.DEBUG  # noqa: B018 - touching a setting imports the module


def _sampler():
    """Children follow their parent; a new trace is kept (at OTEL_TRACES_SAMPLER_ARG, default
    all) unless it would start with a client call: a Redis or SQL command outside any request or
    task (the worker polling its broker, a health probe) is noise, not a trace."""
    from opentelemetry.sdk.trace.sampling import (  # noqa: PLC0415 - only when tracing is on
        Decision,
        ParentBased,
        Sampler,
        SamplingResult,
        TraceIdRatioBased,
    )

    try:
        ratio = float(os.environ.get("OTEL_TRACES_SAMPLER_ARG", "1"))
    except ValueError:
        ratio = 1.0
    ratio_sampler = TraceIdRatioBased(min(1.0, max(0.0, ratio)))

    class RootUnlessClient(Sampler):
        def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None,
                          trace_state=None):
            if kind == SpanKind.CLIENT:
                return SamplingResult(Decision.DROP)
            return ratio_sampler.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

        def get_description(self):
            return f"RootUnlessClient({ratio_sampler.get_description()})"

    return ParentBased(root=RootUnlessClient())


SERVER_MIDDLEWARE = "kernel.tracing.ServerSpanMiddleware"


def _instrument(provider) -> None:
    from opentelemetry.instrumentation.celery import CeleryInstrumentor  # noqa: PLC0415 - only when tracing is on
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor  # noqa: PLC0415 - only when tracing is on
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor  # noqa: PLC0415 - only when tracing is on
    from opentelemetry.instrumentation.redis import RedisInstrumentor  # noqa: PLC0415 - only when tracing is on
    from opentelemetry.instrumentation.requests import RequestsInstrumentor  # noqa: PLC0415 - only when tracing is on

    # the standard switch of opentelemetry-instrument, e.g. "redis,pymongo" to leave those out
    disabled = {n.strip().lower() for n in os.environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "").split(",")}
    if "django" not in disabled:
        try:
            _install_server_middleware()
        except Exception:  # no Django settings in this process: nothing to serve, nothing to trace
            logger.warning("tracing: no server spans", exc_info=True)
    for instrumentor, options in (
        (CeleryInstrumentor(), {}),
        (RequestsInstrumentor(), {}),
        (PsycopgInstrumentor(), {"enable_commenter": False}),
        (RedisInstrumentor(), {}),
        (PymongoInstrumentor(), {}),
    ):
        if type(instrumentor).__name__.removesuffix("Instrumentor").lower() in disabled:
            continue
        if instrumentor.is_instrumented_by_opentelemetry:
            continue  # instrumented by someone else (opentelemetry-instrument): leave it be
        try:
            instrumentor.instrument(tracer_provider=provider, **options)
        except Exception:  # a library missing or too new must not stop the process
            logger.warning("tracing: %s failed", type(instrumentor).__name__, exc_info=True)
            continue
        _instrumentors.append(instrumentor)
        if isinstance(instrumentor, PsycopgInstrumentor):
            _undo.append(_quiet_health_checks())


def _quiet_health_checks():
    """Leave Django's connection health check (CONN_HEALTH_CHECKS: a `SELECT 1` before the
    first query of a request on a kept connection) out of traces. It is a liveness probe, not
    work of the request, whose span still includes its time; traced, it was one span in four of a
    short read, and spans are most of what tracing costs. Returns the undo."""
    from django.db.backends.postgresql.base import DatabaseWrapper  # noqa: PLC0415 - only when tracing is on
    from opentelemetry.instrumentation.utils import suppress_instrumentation  # noqa: PLC0415 - only when tracing is on

    original = DatabaseWrapper.is_usable

    def is_usable(self):
        with suppress_instrumentation():
            return original(self)

    DatabaseWrapper.is_usable = is_usable
    return lambda: setattr(DatabaseWrapper, "is_usable", original)


def shutdown() -> None:
    """Flush and stop exporting, and remove the instrumentation (tests; process exit)."""
    global ENABLED, _provider, _tracer
    with _lock:
        if not ENABLED:
            return
        for instrumentor in reversed(_instrumentors):
            try:
                instrumentor.uninstrument()
            except Exception:
                logger.warning("tracing: uninstrumenting %s failed", type(instrumentor).__name__, exc_info=True)
        _instrumentors.clear()
        while _undo:
            _undo.pop()()
        _remove_server_middleware()
        provider, _provider, _tracer, ENABLED = _provider, None, None, False
    provider.shutdown()


def force_flush(timeout_ms: int = 5000) -> None:
    if _provider is not None:
        _provider.force_flush(timeout_ms)


# ------------------------------------------------------------------------------ helpers
def span(name: str, **attributes):
    """A child span of the current one (a no-op context when tracing is off).
    Attributes that are None are left out."""
    if not ENABLED:
        return contextlib.nullcontext(None)
    return _tracer.start_as_current_span(
        name, attributes={k: v for k, v in attributes.items() if v is not None}
    )


def set_attributes(**attributes) -> None:
    """Attributes on the current span (e.g. the outcome once it is known)."""
    if not ENABLED:
        return
    current = trace.get_current_span()
    if current.is_recording():
        current.set_attributes({k: v for k, v in attributes.items() if v is not None})


def current_trace_id() -> str:
    """The current trace id (32 hex digits), or "-" outside a trace or when tracing is off."""
    if not ENABLED:
        return NO_TRACE
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else NO_TRACE


def inject(carrier: dict) -> dict:
    """Write the current context (`traceparent`, `tracestate`) into `carrier`, e.g. a
    channel-layer message, so the process that handles it joins this trace."""
    if ENABLED:
        propagate.inject(carrier)
    return carrier


def span_from(carrier: dict | None, name: str, **attributes):
    """A span that continues the trace whose context `carrier` holds (see `inject`)."""
    if not ENABLED:
        return contextlib.nullcontext(None)
    context = propagate.extract(carrier or {})
    return _tracer.start_as_current_span(
        name, context=context, attributes={k: v for k, v in attributes.items() if v is not None}
    )


# ------------------------------------------------------------------------------ HTTP server spans
def _install_server_middleware() -> None:
    """First in the chain, so every other middleware (the request id, the error envelope) runs
    inside the request's span. Read when a handler loads its middleware: setup() comes first."""
    global _excluded_paths
    _excluded_paths = tuple(
        "/" + p.strip().strip("/") for p in os.environ.get("OTEL_PYTHON_DJANGO_EXCLUDED_URLS", "api/health").split(",")
        if p.strip()
    )
    middleware = list(settings.MIDDLEWARE)
    if SERVER_MIDDLEWARE not in middleware:
        settings.MIDDLEWARE = [SERVER_MIDDLEWARE, *middleware]


def _remove_server_middleware() -> None:
    if SERVER_MIDDLEWARE in settings.MIDDLEWARE:
        settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != SERVER_MIDDLEWARE]


_excluded_paths: tuple[str, ...] = ()


def _meta_getter():
    class MetaGetter(Getter):
        """W3C headers from Django's request.META (HTTP_TRACEPARENT, HTTP_TRACESTATE)."""

        def get(self, carrier, key):
            value = carrier.get("HTTP_" + key.upper().replace("-", "_"))
            return None if value is None else [value]

        def keys(self, carrier):
            return [k[5:].lower().replace("_", "-") for k in carrier if k.startswith("HTTP_")]

    return MetaGetter()


class ServerSpanMiddleware:
    """The SERVER span of an HTTP request: the caller's W3C context continued, named
    `<METHOD> <route>` once the URL resolves, with the stable HTTP semantic-convention
    attributes (method, path, scheme, route, status) and an error status for a 5xx.

    opentelemetry-instrumentation-django's middleware does the same and more, and bench/
    tasks_list.py measured it as most of what tracing costs a request: it rebuilds the absolute
    URI three times, resolves the URL a second time for the span's name, collects about fifteen
    attributes per request and records two metrics we do not export. Sync and async, like
    Django's own middleware; not loaded at all while tracing is off."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        if not ENABLED:
            raise MiddlewareNotUsed
        self.get_response = get_response
        self._context, self._trace, self._kind = otel_context, trace, SpanKind.SERVER
        self._error = Status(StatusCode.ERROR)
        self._getter = _meta_getter()
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self._async:
            return self._acall(request)
        if request.path.startswith(_excluded_paths):
            return self.get_response(request)
        span, token = self._start(request)
        try:
            response = self.get_response(request)
        except BaseException as exc:
            self._fail(span, exc, token)
            raise
        return self._finish(span, response, token)

    async def _acall(self, request):
        if request.path.startswith(_excluded_paths):
            return await self.get_response(request)
        span, token = self._start(request)
        try:
            response = await self.get_response(request)
        except BaseException as exc:
            self._fail(span, exc, token)
            raise
        return self._finish(span, response, token)

    def _start(self, request):
        parent = propagate.extract(request.META, getter=self._getter)
        span = _tracer.start_span(
            request.method,
            context=parent,
            kind=self._kind,
            attributes={
                "http.request.method": request.method,
                "url.path": redact_path(request.path),
                "url.scheme": request.scheme,
            },
        )
        request._deepiri_server_span = span
        return span, self._context.attach(self._trace.set_span_in_context(span, parent))

    def process_view(self, request, view_func, view_args, view_kwargs):
        span = getattr(request, "_deepiri_server_span", None)
        match = request.resolver_match
        if span is not None and match is not None and match.route and span.is_recording():
            span.update_name(f"{request.method} {match.route}")
            span.set_attribute("http.route", match.route)

    def _finish(self, span, response, token):
        if span.is_recording():
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                span.set_attribute("error.type", str(response.status_code))
                span.set_status(self._error)
        span.end()
        self._context.detach(token)
        return response

    def _fail(self, span, exc, token):
        if span.is_recording():
            span.record_exception(exc)
            span.set_attribute("error.type", type(exc).__qualname__)
            span.set_status(self._error)
        span.end()
        self._context.detach(token)
