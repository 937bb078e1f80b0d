"""Google end to end against the fake: PKCE + offline consent, form token calls, Tasks paging
with date-only dues and tombstones, chosen Docs' checklist items, refresh without rotation,
Drive channel notifications, 403 userRateLimitExceeded backoff."""

from __future__ import annotations

import time

import pytest

from integrations import services
from integrations.models import Connection, ImportedItem
from integrations.providers.base import RateLimited
from tasks.models import Task

pytestmark = pytest.mark.django_db


def _sync(client, **body):
    response = client.post("/api/integrations/google_docs/sync", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()["data"]


def test_connect_asks_for_offline_consent_with_pkce(auth_client, user, google, connect):
    assert connect(auth_client, google, "google_docs")["status"] == "connected"
    authorize = next(r for r in google.requests if r["path"] == "/o/oauth2/v2/auth")["query"]
    assert authorize["access_type"] == "offline" and authorize["prompt"] == "consent"
    assert authorize["code_challenge_method"] == "S256"
    token_call = next(r for r in google.requests if r["path"] == "/token")
    assert "application/x-www-form-urlencoded" in token_call["headers"]["Content-Type"]
    conn = Connection.objects.get(user=user)
    assert conn.refresh_token.startswith("1//") and conn.token_expires_at is not None
    assert conn.external_account_name == "ada@example.com"


def test_denied_scopes_are_refused(auth_client, user, google, connect):
    google.grant_scopes = "openid email"
    outcome = connect(auth_client, google, "google_docs")
    assert outcome["status"] == "error" and "granted" in outcome["message"]
    assert not Connection.objects.filter(user=user).exists()


def test_tasks_sync_keeps_dates_and_marks_tombstones(auth_client, make_user, google, connect, client_factory):
    user = make_user(timezone="Pacific/Auckland")  # UTC+13: a shifted instant would land a day off
    client = client_factory(user)
    inbox = google.add_tasklist("My Tasks")
    ids = [google.add_task(inbox, f"T{i}", due="2026-05-10" if i == 0 else None) for i in range(5)]
    connect(client, google, "google_docs")
    data = _sync(client)
    assert data["run"]["createdCount"] == 5 and data["run"]["pages"] >= 3
    dated = Task.objects.get(source_id=ids[0])
    assert dated.due_date_only is True
    assert dated.due_date.astimezone(user.tzinfo).date().isoformat() == "2026-05-10"

    google.tick(90)
    google.edit_task(ids[1], status="completed")
    google.delete_task(ids[2])
    data = _sync(client)  # incremental: updatedMin + showDeleted bring both changes
    assert data["run"]["completedCount"] == 1 and data["run"]["deletedCount"] == 1
    assert data["run"]["unchangedCount"] == 3  # the overlap window re-reads, but writes nothing
    assert Task.objects.get(source_id=ids[1]).status == "completed"
    assert ImportedItem.objects.get(external_id=ids[2]).deleted_upstream_at is not None
    assert Task.objects.filter(user=user).count() == 5


def test_chosen_docs_checklists(auth_client, user, google, connect):
    doc = google.add_doc("Meeting notes", [("Ship v2", False), ("Book room", True), ("Email Bob", False)])
    connect(auth_client, google, "google_docs")
    patch = auth_client.patch("/api/integrations/google_docs", {"syncFilters": {"documents": [doc]}}, format="json")
    assert patch.status_code == 200, patch.content
    data = _sync(auth_client)
    titles = set(Task.objects.filter(user=user).values_list("title", flat=True))
    assert titles == {"Ship v2", "Email Bob"}  # the checked item and the plain bullet are not tasks
    assert data["run"]["skippedCount"] == 1
    google.tick(60)
    google.edit_doc(doc, [("Ship v2", True), ("Book room", True), ("Email Bob", False)])
    data = _sync(auth_client)
    assert data["run"]["completedCount"] == 1
    assert Task.objects.get(title="Ship v2").status == "completed"


def test_expired_access_token_is_refreshed_without_rotation(auth_client, user, google, connect):
    google.add_task(google.add_tasklist("L"), "One")
    connect(auth_client, google, "google_docs")
    refresh_before = Connection.objects.get(user=user).refresh_token
    google.expire_tokens()
    data = _sync(auth_client)
    assert data["run"]["status"] == "succeeded" and google.count("refresh") == 1
    conn = Connection.objects.get(user=user)
    assert conn.refresh_token == refresh_before and conn.token_version == 2


def test_user_rate_limit_403_backs_off(auth_client, user, google, connect):
    google.add_tasklist("L")
    connect(auth_client, google, "google_docs")
    google.inject(status=403, path="/tasks/v1/users/@me/lists")
    conn = Connection.objects.get(user=user)
    with pytest.raises(RateLimited) as info:
        services.sync_connection(conn.pk)
    assert info.value.code == "backoff"
    google.add_task(next(iter(google.tasklists)), "After the wait")
    run = services.sync_connection(conn.pk)  # the next attempt resumes the same run
    assert run.status == "succeeded" and run.retries == 1 and run.created_count == 1
    assert 2.0 <= services.retry_delay(info.value, 0) <= 3.0 and 8.0 <= services.retry_delay(info.value, 2) <= 9.0


def test_drive_channel_notifications(
    api_client, auth_client, user, google, connect, django_capture_on_commit_callbacks
):
    doc = google.add_doc("Plan", [("First", False)])
    connect(auth_client, google, "google_docs")
    auth_client.patch("/api/integrations/google_docs", {"syncFilters": {"documents": [doc]}}, format="json")
    _sync(auth_client)
    conn = Connection.objects.get(user=user)
    hooks = services.register_webhooks(conn)
    channel = hooks[0]["channel_id"]
    assert channel in google.channels and google.channels[channel]["address"].endswith(
        "/api/integrations/webhooks/google_docs"
    )
    url = "/api/integrations/webhooks/google_docs"
    assert api_client.post(url, headers=google.notification_headers(channel, state="sync")).status_code == 200
    assert api_client.post(url, headers=google.notification_headers(channel, token="forged")).status_code == 401
    google.tick(60)
    google.edit_doc(doc, [("First", False), ("Second", False)])
    headers = google.notification_headers(channel)
    with django_capture_on_commit_callbacks(execute=True):
        ok = api_client.post(url, headers=headers)
    assert ok.status_code == 200 and ok.json()["data"]["connections"] == 1
    assert Task.objects.filter(user=user, title="Second").exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert api_client.post(url, headers=headers).json()["data"]["duplicate"] is True
    # Disconnect stops the channel and revokes the grant.
    assert auth_client.post("/api/integrations/google_docs/disconnect").json()["data"]["revoked"] is True
    assert channel not in google.channels


def test_expiring_drive_channels_are_renewed(auth_client, user, google, connect):
    from integrations.tasks import renew_webhooks_task

    connect(auth_client, google, "google_docs")
    conn = Connection.objects.get(user=user)
    old = services.register_webhooks(conn)[0]
    assert renew_webhooks_task() == 0  # a week left: nothing to do
    hooks = [{**old, "expiration": int((time.time() + 3600) * 1000)}]
    Connection.objects.filter(pk=conn.pk).update(webhooks=hooks)
    assert renew_webhooks_task() == 1
    conn.refresh_from_db()
    assert old["channel_id"] not in google.channels  # stopped at Google
    assert [h["channel_id"] for h in conn.webhooks] == list(google.channels)
