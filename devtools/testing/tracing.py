"""Tracing in tests: spans of this process in memory, spans of other processes (a real Celery
worker, daphne) through an OTLP/HTTP collector stand-in on 127.0.0.1.

    from devtools.testing.tracing import otlp_collector, traced  # noqa: F401 (fixtures)

- ``traced``: turns tracing on in the test process (kernel.tracing.setup with an in-memory
  exporter, spans exported as they end) and off again after the test; yields the exporter
  (``traced.get_finished_spans()``). Take it before the client fixtures: Django's middleware
  list is read when a test client makes its first request.
- ``otlp_collector``: a real HTTP server speaking OTLP/HTTP protobuf (``POST /v1/traces``),
  decoding what it receives into ``collector.spans`` (``Span`` tuples). Give its ``url`` to a
  process as ``OTEL_EXPORTER_OTLP_ENDPOINT``.
"""

from __future__ import annotations

import gzip
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from devtools.testing.fakeserver import FakeServer
from kernel import tracing


@dataclass(frozen=True)
class Span:
    """One finished span, from either source, ids as lowercase hex."""

    name: str
    trace_id: str
    span_id: str
    parent_id: str | None
    service: str
    attributes: dict
    start_ns: int = 0
    end_ns: int = 0

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


def from_sdk(span) -> Span:
    return Span(
        name=span.name,
        trace_id=format(span.context.trace_id, "032x"),
        span_id=format(span.context.span_id, "016x"),
        parent_id=format(span.parent.span_id, "016x") if span.parent else None,
        service=span.resource.attributes.get("service.name", ""),
        attributes=dict(span.attributes or {}),
        start_ns=span.start_time or 0,
        end_ns=span.end_time or 0,
    )


def _any_value(value):
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def decode(body: bytes) -> list[Span]:
    """Spans of one OTLP/HTTP protobuf export request."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _any_value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for s in scope_spans.spans:
                spans.append(
                    Span(
                        name=s.name,
                        trace_id=s.trace_id.hex(),
                        span_id=s.span_id.hex(),
                        parent_id=s.parent_span_id.hex() or None,
                        service=resource.get("service.name", ""),
                        attributes={a.key: _any_value(a.value) for a in s.attributes},
                        start_ns=s.start_time_unix_nano,
                        end_ns=s.end_time_unix_nano,
                    )
                )
    return spans


class _CollectorHandler(BaseHTTPRequestHandler):
    """Keeps each export's body as it came (decoding is left to the reader, so a benchmark's
    collector costs little while the load runs) and answers as a collector does."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the exporter's session expects

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != "/v1/traces" or self.headers.get("Content-Type") != "application/x-protobuf":
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        with self.server.state["lock"]:
            self.server.state["bodies"].append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")  # an empty ExportTraceServiceResponse
        self.end_headers()


class OtlpCollector(FakeServer):
    def __init__(self):
        super().__init__(_CollectorHandler, {"bodies": [], "lock": threading.Lock()})
        self._decoded: list[Span] = []
        self._seen = 0

    @property
    def spans(self) -> list[Span]:
        with self.state["lock"]:
            bodies = self.state["bodies"][self._seen :]
            self._seen += len(bodies)
        for body in bodies:
            self._decoded.extend(decode(body))
        return list(self._decoded)

    def clear(self) -> None:
        with self.state["lock"]:
            self.state["bodies"].clear()
            self._seen = 0
            self._decoded = []

    def wait_for(self, predicate, timeout: float = 15.0) -> list[Span]:
        """Wait until some received span satisfies `predicate`; returns all spans then."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            spans = self.spans
            if any(predicate(s) for s in spans):
                return spans
            time.sleep(0.05)
        raise AssertionError(f"no matching span within {timeout}s; received {[s.name for s in self.spans]}")


@pytest.fixture
def otlp_collector():
    with OtlpCollector() as collector:
        yield collector


@pytest.fixture
def traced():
    exporter = InMemorySpanExporter()
    assert tracing.setup("test", exporter=exporter, simple=True)
    try:
        yield exporter
    finally:
        tracing.shutdown()


def ancestors(span: Span, by_id: dict[str, Span]) -> list[Span]:
    """The chain of parents of `span` that `by_id` knows, nearest first."""
    chain = []
    current = span
    while current.parent_id and current.parent_id in by_id:
        current = by_id[current.parent_id]
        chain.append(current)
    return chain
