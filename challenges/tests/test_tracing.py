"""One trace from the request to the AI call: `POST /api/challenges/generate` in this process
(spans kept in memory), the Celery task on a REAL worker process (spans exported over OTLP/HTTP
to a collector stand-in), and the worker's call to the fake AI service (which receives the
W3C `traceparent`)."""

from __future__ import annotations

import json

import pytest

from challenges.tests.fake_cyrex import FakeCyrex
from challenges.tests.helpers import poll_generated
from devtools.testing.tracing import ancestors, from_sdk
from kernel import tracing


def _task(client, title):
    response = client.post("/api/tasks", {"title": title, "estimatedDuration": 30}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["data"]


@pytest.mark.services
def test_request_task_and_ai_call_are_one_trace(traced, otlp_collector, auth_client, settings, celery_worker):
    with FakeCyrex(api_key="test-key") as cyrex:
        worker = celery_worker(
            AI_SERVICE_URL=cyrex.url, AI_SERVICE_API_KEY="test-key", AI_SERVICE_READ_TIMEOUT=2,
            AI_SERVICE_TOTAL_TIMEOUT=4, AI_SERVICE_MAX_RETRIES=0,
            OTEL_EXPORTER_OTLP_ENDPOINT=otlp_collector.url, OTEL_BSP_SCHEDULE_DELAY=50,
            OTEL_SERVICE_NAME="deepiri-worker",
        )
        settings.AI_SERVICE_URL = ""  # only the worker can reach the AI service
        task = _task(auth_client, "Fix the flaky payment test")
        traced.clear()
        response = auth_client.post("/api/challenges/generate", {"taskId": task["id"]}, format="json")
        assert response.status_code == 202, response.content
        web = [from_sdk(s) for s in traced.get_finished_spans()]  # the request's spans, before any polling
        generated = poll_generated(auth_client, response.json()["data"]["id"])
        assert generated["aiMetadata"]["source"] == "ai", worker.output[-3000:]

        server = next(s for s in web if s.parent_id is None and "challenges/generate" in s.name)
        trace_id = server.trace_id
        publish = next(s for s in web if s.name == "apply_async/challenges.run_generation")
        assert publish.trace_id == trace_id

        remote = otlp_collector.wait_for(lambda s: s.name == "run/challenges.run_generation")
        remote = otlp_collector.wait_for(lambda s: s.name == "challenge.generate" and s.trace_id == trace_id)
        spans = {s.span_id: s for s in [*web, *remote]}
        run = next(s for s in remote if s.name == "run/challenges.run_generation")
        assert run.service == "deepiri-worker" and run.trace_id == trace_id
        assert run.parent_id == publish.span_id  # the task message carried the context
        assert server in ancestors(publish, spans)

        ai_call = next(s for s in remote if s.name == "challenge.generate.ai")
        assert run in ancestors(ai_call, spans)
        generate = next(s for s in remote if s.name == "challenge.generate")
        assert generate.attributes["challenge.source"] == "ai"
        http = next(s for s in remote if s.parent_id == ai_call.span_id and s.name.startswith("POST"))
        assert str(http.attributes.get("url.full") or http.attributes.get("http.url")).endswith(
            "/agent/challenge/generate"
        )
        assert [s.name for s in ancestors(http, spans)][-1] == server.name  # one tree, rooted at the request

        # the worker's queries are spans of the trace too (psycopg instrumented before it connected)
        assert any((s.attributes.get("db.system") or s.attributes.get("db.system.name")) == "postgresql"
                   for s in remote if s.trace_id == trace_id)

        # the AI service was told which trace (and which client span) the call belongs to
        sent = next(r for r in cyrex.state["requests"] if r["path"] == "/agent/challenge/generate")
        headers = {k.lower(): v for k, v in sent["headers"].items()}
        version, sent_trace, parent, flags = headers["traceparent"].split("-")
        assert (version, sent_trace, parent) == ("00", trace_id, http.span_id) and int(flags, 16) & 1  # sampled

        # the worker's log lines carry the trace id (JSON, like the web's)
        lines = [json.loads(line) for line in worker.lines if line.startswith("{")]
        assert any(line.get("trace_id") == trace_id and "succeeded" in line.get("message", "") for line in lines), (
            worker.output[-3000:]
        )


@pytest.mark.django_db(transaction=True)
def test_fallback_is_a_span_of_its_own_with_the_reason(traced, auth_client, settings):
    settings.AI_SERVICE_URL = ""
    task = _task(auth_client, "Read chapter 5")
    traced.clear()
    response = auth_client.post("/api/challenges/generate", {"taskId": task["id"]}, format="json")
    assert response.status_code == 201
    spans = {s.name: s for s in map(from_sdk, traced.get_finished_spans())}
    assert spans["challenge.generate"].attributes["challenge.source"] == "fallback"
    assert spans["challenge.generate.fallback"].attributes["challenge.fallback_reason"] == "not_configured"
    assert spans["challenge.generate"].trace_id == spans["challenge.generate.fallback"].trace_id
    assert tracing.current_trace_id() == tracing.NO_TRACE  # nothing leaks out of the request
