"""GitHub end to end against the fake: PKCE connect, Link paging with PRs excluded, ETag 304,
closing, deletion, expiring tokens refreshed once under concurrency, revoked grants, webhooks."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.utils import timezone

from integrations import services
from integrations.models import Connection, ImportedItem, SyncRun, WebhookDelivery
from integrations.providers.base import RateLimited
from kernel import events
from tasks.models import Task

pytestmark = pytest.mark.django_db


def _sync(client, **body):
    response = client.post("/api/integrations/github/sync", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()["data"]


def test_pkce_connect_and_token_request_format(auth_client, user, github, connect):
    assert connect(auth_client, github, "github")["status"] == "connected"
    authorize = next(r for r in github.requests if r["path"] == "/login/oauth/authorize")
    assert authorize["query"]["code_challenge_method"] == "S256" and len(authorize["query"]["code_challenge"]) == 43
    conn = Connection.objects.get(user=user)
    assert conn.access_token.startswith("gho_") and "gho_" not in conn.access_token_enc
    assert conn.external_account_id == "1001" and conn.external_account_name == "ada"


def test_sync_pages_skips_pull_requests_and_resync_is_a_304(auth_client, user, github, connect):
    ids = [github.add_issue(f"Issue {i}", labels=["bug"]) for i in range(5)]
    github.add_issue("A pull request", pr=True)
    github.add_issue("Someone else's", assignees=("bob",))
    connect(auth_client, github, "github")
    data = _sync(auth_client)
    assert data["run"]["createdCount"] == 5 and data["run"]["pages"] == 3
    assert set(Task.objects.filter(user=user).values_list("source_id", flat=True)) == {str(i) for i in ids}
    assert not Task.objects.filter(title="A pull request").exists()

    github.tick(120)
    data = _sync(auth_client)
    assert data["run"]["createdCount"] == data["run"]["updatedCount"] == 0
    assert github.count("not_modified") == 1  # the stored ETag made the feed a 304

    github.tick(120)
    github.edit_issue(ids[0], title="Fixed title")
    github.edit_issue(ids[1], state="closed", state_reason="completed")
    github.edit_issue(ids[2], state="closed", state_reason="not_planned")
    with events.capture() as seen:
        data = _sync(auth_client)
    assert data["run"]["updatedCount"] == 3 and data["run"]["completedCount"] == 1
    assert Task.objects.get(source_id=str(ids[0])).title == "Fixed title"
    assert Task.objects.get(source_id=str(ids[1])).status == "completed"
    assert Task.objects.get(source_id=str(ids[2])).status == "cancelled"
    assert [e.name for e in seen].count("task.completed") == 1
    assert Task.objects.filter(user=user).count() == 5


def test_an_issue_landing_on_page_two_within_the_watermark_overlap_is_synced(auth_client, user, github, connect):
    """An incremental sync lists again what changed within a minute before the watermark. When
    those already-seen issues fill the first page (unchanged: its ETag matches) and the new
    issue sorts after them, a 304 on page 1 must not end the listing: newest first, the new
    issue is on page 1 and changes its ETag."""
    for i in range(3):
        github.add_issue(f"Issue {i}")
    connect(auth_client, github, "github")
    assert _sync(auth_client)["run"]["createdCount"] == 3
    github.tick(20)  # within the watermark overlap: the three are listed again
    new = github.add_issue("Filed just after the sync")
    data = _sync(auth_client)
    assert data["run"]["createdCount"] == 1
    assert Task.objects.filter(user=user, source_id=str(new)).exists()
    # and a feed that did not change since is still a 304
    github.tick(20)
    before = github.count("not_modified")
    assert _sync(auth_client)["run"]["createdCount"] == 0
    assert github.count("not_modified") == before + 1


def test_deleted_issue_is_marked_on_full_sync(auth_client, user, github, connect):
    keep, gone = github.add_issue("Keep"), github.add_issue("Gone")
    connect(auth_client, github, "github")
    _sync(auth_client)
    github.delete_issue(gone)
    data = _sync(auth_client, full=True)
    assert data["run"]["deletedCount"] == 1
    assert ImportedItem.objects.get(external_id=str(gone)).deleted_upstream_at is not None
    assert Task.objects.get(source_id=str(gone)).status == "cancelled"
    assert Task.objects.get(source_id=str(keep)).status == "pending"


def test_primary_rate_limit_waits_until_reset(auth_client, user, github, connect):
    github.add_issue("One")
    connect(auth_client, github, "github")
    conn = Connection.objects.get(user=user)
    github.inject(status=403, path="/issues")
    with pytest.raises(RateLimited) as info:
        services.sync_connection(conn.pk)
    assert 1 <= info.value.retry_after <= 4  # until x-ratelimit-reset
    assert SyncRun.objects.get().status == "retrying"


def test_revoked_grant_becomes_needs_reauth_and_tells_the_user(
    auth_client, user, github_app, connect, django_capture_on_commit_callbacks
):
    from notifications.models import Notification

    github_app.add_issue("One")
    connect(auth_client, github_app, "github")
    github_app.revoke_user("ada")
    github_app.expire_tokens()
    with events.capture() as seen, django_capture_on_commit_callbacks(execute=True):
        data = _sync(auth_client)
    note = Notification.objects.get(user=user, type="integration_failed")  # the user is told
    assert note.data["service"] == "github"
    assert data["run"]["status"] == "failed"
    conn = Connection.objects.get(user=user)
    assert conn.status == "needs_reauth"
    failed = [e for e in seen if e.name == "integration.failed"]
    assert len(failed) == 1 and failed[0].error.startswith("needs_reauth")
    listing = auth_client.get("/api/integrations").json()["data"][0]
    assert listing["needsReauth"] is True and listing["status"] == "needs_reauth"
    assert auth_client.post("/api/integrations/github/sync").status_code == 409


@pytest.mark.django_db(transaction=True)
def test_expired_token_is_refreshed_exactly_once_by_two_concurrent_workers(
    client_factory, make_user, github_app, connect
):
    user = make_user()
    client = client_factory(user)
    for i in range(3):
        github_app.add_issue(f"I{i}")
    connect(client, github_app, "github")
    conn = Connection.objects.get(user=user)
    old_refresh = conn.refresh_token
    github_app.expire_tokens()
    barrier, results, errors = threading.Barrier(2), [], []

    def worker():
        try:
            barrier.wait()
            mine = Connection.objects.get(pk=conn.pk)
            client = services.client_for(mine)  # refreshes under the per-connection lock
            results.append(
                (client.tokens.access_token, len(client.get_json(github_app.url + "/issues?filter=assigned")))
            )
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert errors == []
    assert github_app.count("refresh") == 1 and github_app.count("refresh_rejected") == 0
    assert results[0][0] == results[1][0] and results[0][1] == 2  # a page of the fake (size 2)
    conn.refresh_from_db()
    assert conn.status == "connected" and conn.refresh_token != old_refresh  # rotated and stored


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_syncs_run_once(client_factory, make_user, github_app, connect):
    user = make_user()
    client = client_factory(user)
    for i in range(4):
        github_app.add_issue(f"I{i}")
    connect(client, github_app, "github")
    conn = Connection.objects.get(user=user)
    github_app.expire_tokens()
    barrier, outcomes = threading.Barrier(2), []

    def worker():
        try:
            barrier.wait()
            outcomes.append(services.sync_connection(conn.pk))
        except services.SyncInProgress:
            outcomes.append("busy")
        finally:
            db_connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    runs = [o for o in outcomes if isinstance(o, SyncRun)]
    assert len(outcomes) == 2 and len(runs) >= 1
    assert Task.objects.filter(user=user).count() == 4  # nothing imported twice
    assert github_app.count("refresh") == 1


def test_webhook_signature_replay_and_targeted_sync(
    api_client, auth_client, user, github, connect, django_capture_on_commit_callbacks
):
    issue = github.add_issue("Before")
    connect(auth_client, github, "github")
    _sync(auth_client)
    url = "/api/integrations/webhooks/github"
    body, headers = github.signed_event("edited", issue, secret="wrong")
    assert api_client.post(url, body, content_type="application/json", headers=headers).status_code == 401
    github.edit_issue(issue, state="closed", state_reason="completed")
    body, headers = github.signed_event("closed", issue, delivery="d-1")
    with django_capture_on_commit_callbacks(execute=True):
        ok = api_client.post(url, body, content_type="application/json", headers=headers)
    assert ok.status_code == 200 and ok.json()["data"]["connections"] == 1
    assert Task.objects.get(source_id=str(issue)).status == "completed"
    run = SyncRun.objects.filter(trigger="webhook").get()
    assert run.completed_count == 1
    with django_capture_on_commit_callbacks(execute=True):
        again = api_client.post(url, body, content_type="application/json", headers=headers)
    assert again.json()["data"]["duplicate"] is True
    assert SyncRun.objects.filter(trigger="webhook").count() == 1
    # Unassigned upstream: the issue left the user's feed and is marked.
    github.edit_issue(issue, assignees=[])
    body, headers = github.signed_event("unassigned", issue, delivery="d-2")
    body = body.replace(b'"sender"', b'"assignee": {"login": "ada", "id": 1001}, "sender"')
    import hashlib
    import hmac as _hmac

    headers["X-Hub-Signature-256"] = (
        "sha256=" + _hmac.new(github.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert api_client.post(url, body, content_type="application/json", headers=headers).status_code == 200
    assert ImportedItem.objects.get(external_id=str(issue)).deleted_upstream_at is not None


@pytest.mark.services
def test_a_webhook_sync_the_broker_refused_waits_in_the_outbox(
    api_client, auth_client, user, github, connect, private_broker, django_capture_on_commit_callbacks
):
    """The delivery is recorded and answered; its sync is kept, with its refs, and published
    once the broker is back, instead of being dropped until the next scheduled sync."""
    from devtools.testing.faults import queued
    from kernel import jobs
    from kernel.models import OutboxJob

    issue = github.add_issue("Before")
    connect(auth_client, github, "github")
    conn = Connection.objects.get(user=user)
    OutboxJob.objects.all().delete()  # the first sync's row: its commit never comes in this test
    private_broker.kill()
    github.edit_issue(issue, title="After")
    body, headers = github.signed_event("edited", issue, delivery="d-down")
    with django_capture_on_commit_callbacks(execute=True):
        answer = api_client.post("/api/integrations/webhooks/github", body, content_type="application/json", headers=headers)
    assert answer.status_code == 200 and answer.json()["data"]["connections"] == 1
    kept = OutboxJob.objects.get()
    assert (kept.task, kept.args) == ("integrations.sync_connection", [conn.pk])
    assert kept.kwargs["trigger"] == "webhook" and kept.kwargs["refs"]
    private_broker.restart()
    drained = jobs.drain_outbox()
    assert drained == {"published": 1, "failed": 0, "remaining": 0}, OutboxJob.objects.values("last_error").first()
    assert queued(private_broker) == 1


def test_the_beat_job_syncs_each_due_connection_once(auth_client, user, github, connect):
    from integrations.tasks import enqueue_due_syncs

    github.add_issue("Scheduled")
    connect(auth_client, github, "github")
    Connection.objects.filter(user=user).update(next_sync_at=timezone.now() - timedelta(minutes=1))
    assert enqueue_due_syncs() == 1  # eager Celery: the sync runs inline
    assert SyncRun.objects.filter(trigger="schedule", status="succeeded").count() == 1
    assert Task.objects.filter(user=user, source="github").count() == 1
    assert enqueue_due_syncs() == 0  # claimed: its next time moved on


def test_celery_task_retries_a_secondary_rate_limit_and_resumes_the_same_run(auth_client, user, github, connect):
    from integrations.tasks import sync_connection_task

    ids = [github.add_issue(f"I{i}") for i in range(5)]
    connect(auth_client, github, "github")
    conn = Connection.objects.get(user=user)
    github.inject(status=429, path="/issues", after=1)  # page 2 answers 429 + retry-after: 2
    # Eagerly applied, Celery runs the retry at once (a worker would wait the 2 s countdown).
    result = sync_connection_task.apply(args=[conn.pk], kwargs={"trigger": "schedule"}, throw=False)
    run = SyncRun.objects.get()
    assert result.state == "SUCCESS" and result.result == run.pk
    assert run.status == "succeeded" and run.retries == 1
    assert run.errors[0]["retry_after"] == 2.0 and run.errors[0]["code"] == "secondary_rate_limit"
    pages = [r["query"].get("page", "1") for r in github.requests if r["path"] == "/issues"]
    assert pages == ["1", "2", "2", "3"]  # resumed at page 2, page 1 not fetched again
    assert sorted(Task.objects.filter(user=user).values_list("source_id", flat=True)) == sorted(str(i) for i in ids)


def test_a_signed_body_replayed_under_a_new_delivery_id_starts_no_sync(
    api_client, auth_client, user, github, connect, django_capture_on_commit_callbacks
):
    """The signature covers the body, not X-GitHub-Delivery: an attacker who captured one
    delivery could replay it with fresh ids and start a sync each time."""
    issue = github.add_issue("Before")
    connect(auth_client, github, "github")
    _sync(auth_client)
    url = "/api/integrations/webhooks/github"
    github.edit_issue(issue, title="After")
    body, headers = github.signed_event("edited", issue, delivery="d-1")
    with django_capture_on_commit_callbacks(execute=True):
        first = api_client.post(url, body, content_type="application/json", headers=headers)
    assert first.json()["data"]["connections"] == 1
    for n in range(3):
        replay = {**headers, "X-GitHub-Delivery": f"forged-{n}"}
        with django_capture_on_commit_callbacks(execute=True):
            again = api_client.post(url, body, content_type="application/json", headers=replay)
        assert again.status_code == 200 and again.json()["data"]["duplicate"] is True
    assert SyncRun.objects.filter(trigger="webhook").count() == 1
    assert not WebhookDelivery.objects.filter(delivery_id__startswith="forged-").exists()


def test_webhook_syncs_are_rate_limited_per_connection(
    api_client, auth_client, user, github, connect, settings, django_capture_on_commit_callbacks
):
    """A flood of distinct, validly signed deliveries (a noisy repository, or someone holding
    the webhook secret) starts at most the limit of syncs per window; the rest is left to the
    next scheduled sync, which is moved to the end of the window."""
    settings.INTEGRATIONS_WEBHOOK_SYNC_LIMIT = 2
    settings.INTEGRATIONS_WEBHOOK_SYNC_WINDOW = 60
    issues = [github.add_issue(f"Issue {n}") for n in range(4)]
    connect(auth_client, github, "github")
    _sync(auth_client)
    conn = Connection.objects.get(user=user)
    Connection.objects.filter(pk=conn.pk).update(next_sync_at=timezone.now() + timedelta(hours=1))
    url = "/api/integrations/webhooks/github"
    answers = []
    for n, issue in enumerate(issues):
        github.edit_issue(issue, title=f"Edited {n}")
        body, headers = github.signed_event("edited", issue, delivery=f"d-{n}")
        with django_capture_on_commit_callbacks(execute=True):
            answers.append(api_client.post(url, body, content_type="application/json", headers=headers).json()["data"])
    assert [a["deferred"] for a in answers] == [0, 0, 1, 1]
    assert SyncRun.objects.filter(trigger="webhook").count() == 2
    conn.refresh_from_db()
    assert conn.next_sync_at <= timezone.now() + timedelta(seconds=60)  # the schedule catches up



def test_webhook_with_redis_down_answers_503_and_records_nothing(api_client, auth_client, user, github, connect, monkeypatch):
    """Replay and rate state unknown: refuse honestly so GitHub redelivers later."""
    import socket

    import redis

    import kernel.redis as deepiri_redis

    issue = github.add_issue("Before")
    connect(auth_client, github, "github")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.2, socket_timeout=0.2)
    monkeypatch.setattr(deepiri_redis, "_client", dead)
    body, headers = github.signed_event("edited", issue, delivery="d-down")
    response = api_client.post("/api/integrations/webhooks/github", body, content_type="application/json", headers=headers)
    assert response.status_code == 503 and response.json()["success"] is False
    assert not WebhookDelivery.objects.exists()
