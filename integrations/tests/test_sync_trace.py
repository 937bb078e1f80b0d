"""A provider sync run is one trace, on a real Celery worker exporting over OTLP/HTTP to a
collector stand-in: the task, the sync, each page and every call to the provider (which
receives the W3C `traceparent`), the retry after a rate limit included."""

from __future__ import annotations

import time

import pytest

from devtools.testing.tracing import ancestors
from integrations.models import Connection, SyncRun
from tasks.models import Task

pytestmark = pytest.mark.services


def test_a_sync_run_with_a_rate_limited_page_is_one_trace(make_user, github, celery_worker, otlp_collector):
    from integrations.tasks import sync_connection_task

    user = make_user()
    for i in range(5):
        github.add_issue(f"I{i}")
    token, _ = github.issue("ada", access_prefix="gho_", with_refresh=False)
    conn = Connection(user=user, service="github", auth_type="token", external_account_id="1001",
                      external_account_name="ada")
    conn.access_token = token
    conn.save()
    github.inject(status=429, path="/issues", after=1)  # page 2 answers 429 + retry-after: 2
    worker = celery_worker(GITHUB_API_BASE=github.url, OTEL_EXPORTER_OTLP_ENDPOINT=otlp_collector.url,
                           OTEL_BSP_SCHEDULE_DELAY=50)

    sync_connection_task.delay(conn.pk, trigger="schedule")
    deadline = time.monotonic() + 40
    while not SyncRun.objects.filter(connection=conn, status="succeeded").exists():
        assert time.monotonic() < deadline, worker.output[-4000:]
        time.sleep(0.2)
    assert SyncRun.objects.get().retries == 1 and Task.objects.filter(user=user).count() == 5

    runs = lambda spans: [s for s in spans if s.name == "run/integrations.sync_connection"]  # noqa: E731
    spans = otlp_collector.wait_for(lambda s: len(runs(otlp_collector.spans)) == 2)
    first, retry = runs(spans)
    trace_id = first.trace_id
    mine = [s for s in spans if s.trace_id == trace_id]
    by_id = {s.span_id: s for s in mine}
    assert first.parent_id is None  # nothing traced before it in this test: the run is the root
    assert retry.trace_id == trace_id and first in ancestors(retry, by_id)  # the retry message carried it
    assert len(mine) == len(spans)  # nothing of this run landed in another trace

    syncs = [s for s in mine if s.name == "integrations.sync"]
    assert len(syncs) == 2 and all(s.attributes["integrations.service"] == "github" for s in syncs)
    pages = [s for s in mine if s.name == "integrations.sync.page"]
    assert len(pages) == 3 and all(any(a.name == "integrations.sync" for a in ancestors(p, by_id)) for p in pages)
    calls = [s for s in mine if s.name.startswith("GET")]
    assert len(calls) >= 4 and all(first in ancestors(c, by_id) for c in calls)

    sent = [r for r in github.requests if r["path"] == "/issues"]
    assert len(sent) == 4 and all(r["headers"].get("traceparent", "").split("-")[1] == trace_id for r in sent)
