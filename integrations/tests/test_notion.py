"""Notion end to end against the fake: connect, first sync across pages, incremental resync,
trash, webhooks (handshake, signature, replay), rate limit resume, rotation, disconnect."""

from __future__ import annotations

import json

import pytest

from integrations import services
from integrations.models import Connection, ImportedItem, ProviderSecret, SyncRun
from kernel import events
from tasks.models import Task

pytestmark = pytest.mark.django_db


def _sync(client, service="notion", **body):
    response = client.post(f"/api/integrations/{service}/sync", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()["data"]


def test_connect_stores_tokens_encrypted_and_never_returns_them(auth_client, user, notion, connect):
    outcome = connect(auth_client, notion, "notion")
    assert outcome["status"] == "connected"
    conn = Connection.objects.get(user=user, service="notion")
    assert conn.access_token.startswith("ntn_") and conn.refresh_token.startswith("nrt_")
    assert "ntn_" not in conn.access_token_enc and conn.access_token_enc.startswith("gAAAA")  # Fernet
    assert conn.external_account_id == notion.bot_id("ada") and conn.workspace_id == notion.workspace_id
    listing = auth_client.get("/api/integrations")
    assert listing.status_code == 200
    body = listing.content.decode()
    assert conn.access_token not in body and conn.refresh_token not in body
    assert listing.json()["data"][0]["status"] == "connected"
    # The token request was Basic auth + JSON, as Notion wants.
    token_call = next(r for r in notion.requests if r["path"] == "/v1/oauth/token")
    assert token_call["headers"]["Authorization"].startswith("Basic ")
    assert "application/json" in token_call["headers"]["Content-Type"]


def test_first_sync_imports_every_page_then_resync_imports_nothing_new(auth_client, user, notion, connect):
    ds = notion.add_data_source("Work")
    ids = [notion.add_page(ds, f"Task {i}", due="2026-05-10" if i == 0 else None, tags=["work"]) for i in range(5)]
    connect(auth_client, notion, "notion")
    data = _sync(auth_client)
    assert data["run"]["createdCount"] == 5 and data["run"]["pages"] >= 3  # page size 2 at the fake
    assert Task.objects.filter(user=user, source="notion").count() == 5
    due_task = Task.objects.get(user=user, source_id=ids[0])
    assert due_task.due_date_only is True and due_task.due_date.date().isoformat() == "2026-05-10"
    assert due_task.type == "notion" and due_task.tags == ["work"]

    notion.tick(180)
    notion.edit_page(ids[1], title="Task 1 renamed")
    data = _sync(auth_client)
    assert data["run"]["createdCount"] == 0 and data["run"]["updatedCount"] == 1
    assert Task.objects.filter(user=user, source="notion").count() == 5
    assert Task.objects.get(user=user, source_id=ids[1]).title == "Task 1 renamed"
    assert ImportedItem.objects.filter(connection__user=user).count() == 5


def test_completed_upstream_completes_through_complete_task(
    auth_client, user, notion, connect, django_capture_on_commit_callbacks
):
    from notifications.models import Notification

    ds = notion.add_data_source()
    page = notion.add_page(ds, "Ship it")
    connect(auth_client, notion, "notion")
    _sync(auth_client)
    notion.tick(180)
    notion.edit_page(page, status="Done")
    with events.capture() as seen, django_capture_on_commit_callbacks(execute=True):
        data = _sync(auth_client)
    assert data["run"]["completedCount"] == 1
    note = Notification.objects.get(user=user, type="integration_synced")  # each run ends with one
    assert note.data["run_id"] == data["run"]["id"]
    task = Task.objects.get(user=user, source_id=page)
    assert task.status == "completed" and task.completed_at is not None
    completed = [e for e in seen if e.name == "task.completed"]
    assert len(completed) == 1 and completed[0].source == "notion"
    assert [e.name for e in seen].count("integration.synced") == 1


def test_trashed_page_is_marked_by_the_reconcile(auth_client, user, notion, connect):
    ds = notion.add_data_source()
    keep, gone = notion.add_page(ds, "Keep"), notion.add_page(ds, "Gone")
    connect(auth_client, notion, "notion")
    _sync(auth_client)
    notion.trash_page(gone)
    data = _sync(auth_client, full=True)
    assert data["run"]["deletedCount"] == 1
    item = ImportedItem.objects.get(external_id=gone)
    assert item.deleted_upstream_at is not None and item.task.status == "cancelled"
    assert Task.objects.get(source_id=keep).status == "pending"


def test_rate_limit_mid_paging_resumes_without_duplicates(auth_client, user, notion, connect):
    ds = notion.add_data_source()
    for i in range(6):
        notion.add_page(ds, f"T{i}")
    connect(auth_client, notion, "notion")
    notion.inject(status=429, path="/query", after=1)  # the 2nd page answers 429 once
    response = auth_client.post("/api/integrations/notion/sync")
    assert response.status_code == 202  # inline: stopped at the rate limit, checkpoint kept
    run = SyncRun.objects.get()
    assert run.status == "retrying" and run.errors[-1]["retry_after"] == 2.0  # Notion's Retry-After
    conn = Connection.objects.get(user=user)
    assert conn.checkpoint["resume"] and Task.objects.filter(user=user).count() == 2
    data = _sync(auth_client)
    assert data["run"]["id"] == run.pk and data["run"]["status"] == "succeeded"
    assert Task.objects.filter(user=user).count() == 6
    assert ImportedItem.objects.count() == 6


def test_webhook_handshake_signature_and_replay(
    api_client, auth_client, user, notion, connect, django_capture_on_commit_callbacks
):
    ds = notion.add_data_source()
    page = notion.add_page(ds, "Before")
    connect(auth_client, notion, "notion")
    _sync(auth_client)
    url = "/api/integrations/webhooks/notion"
    # 1. verification handshake inside the window staff armed: the token is kept (encrypted)
    #    and then signs deliveries.
    services.arm_verification("notion")
    assert api_client.post(url, notion.handshake_body(), content_type="application/json").status_code == 200
    assert ProviderSecret.objects.get(service="notion").value == notion.verification_token
    # 2. a forged delivery is refused.
    body, headers = notion.signed_event("page.properties_updated", page, token="secret_wrong")
    forged = api_client.post(url, body, content_type="application/json", headers=headers)
    assert forged.status_code == 401
    # 3. a real one enqueues a targeted sync (inline here) that re-reads the page.
    notion.edit_page(page, title="After")
    body, headers = notion.signed_event("page.properties_updated", page, event_id="evt-1")
    with django_capture_on_commit_callbacks(execute=True):
        ok = api_client.post(url, body, content_type="application/json", headers=headers)
    assert ok.status_code == 200 and ok.json()["data"]["connections"] == 1
    assert Task.objects.get(source_id=page).title == "After"
    # 4. the same delivery again is acknowledged and ignored.
    notion.edit_page(page, title="Replayed")
    with django_capture_on_commit_callbacks(execute=True):
        again = api_client.post(url, body, content_type="application/json", headers=headers)
    assert again.status_code == 200 and again.json()["data"]["duplicate"] is True
    assert Task.objects.get(source_id=page).title == "After"


def test_disconnect_revokes_and_wipes_secrets(auth_client, user, notion, connect):
    connect(auth_client, notion, "notion")
    token = Connection.objects.get(user=user).access_token
    response = auth_client.post("/api/integrations/notion/disconnect")
    assert response.status_code == 200 and response.json()["data"]["revoked"] is True
    conn = Connection.objects.get(user=user)
    assert conn.status == "disconnected"
    assert conn.access_token_enc == conn.refresh_token_enc == conn.token_secret_enc == ""
    assert notion.user_for(token) is None  # revoked at Notion
    assert auth_client.post("/api/integrations/notion/sync").status_code == 409


def test_a_failing_provider_opens_the_circuit(auth_client, user, notion, connect, settings):
    settings.INTEGRATIONS_BREAKER_THRESHOLD = 2
    notion.add_data_source()
    connect(auth_client, notion, "notion")
    notion.inject(
        status=503, path="/v1/search", count=100, headers={}, body={"object": "error", "code": "service_unavailable"}
    )
    first = _sync(auth_client)["run"]
    assert first["status"] == "failed" and first["error"].startswith("service_unavailable")
    _sync(auth_client)
    calls = len(notion.requests)
    third = _sync(auth_client)["run"]  # open: no call reaches Notion
    assert third["status"] == "failed" and third["error"].startswith("circuit_open")
    assert len(notion.requests) == calls
    assert Connection.objects.get(user=user).status == "error"


def test_internal_integration_token_connect(auth_client, user, notion):
    ds = notion.add_data_source()
    notion.add_page(ds, "From a token")
    token, _ = notion.issue("ada", access_prefix="ntn_", with_refresh=False)
    response = auth_client.post(
        "/api/integrations/connect", {"service": "notion", "credentials": {"accessToken": token}}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["data"]["account"]["name"] == "Acme" and token not in response.content.decode()
    assert _sync(auth_client)["run"]["createdCount"] == 1
    # A token connection cannot refresh: once Notion refuses it, the user must reconnect.
    notion.revoke_token(token)
    assert _sync(auth_client)["run"]["status"] == "failed"
    assert Connection.objects.get(user=user).status == "needs_reauth"


def test_an_unarmed_handshake_plants_no_key(api_client, auth_client, user, notion, connect):
    """Key planting: with no token configured, an attacker's handshake used to set the signing
    key for good, after which they could sign deliveries of their own."""
    ds = notion.add_data_source()
    page = notion.add_page(ds, "Mine")
    connect(auth_client, notion, "notion")
    url = "/api/integrations/webhooks/notion"
    planted = json.dumps({"verification_token": "secret_attacker"}).encode()
    assert api_client.post(url, planted, content_type="application/json").status_code == 200
    assert not ProviderSecret.objects.exists()
    body, headers = notion.signed_event("page.properties_updated", page, token="secret_attacker")
    assert api_client.post(url, body, content_type="application/json", headers=headers).status_code == 401
    assert not SyncRun.objects.filter(trigger="webhook").exists()


def test_the_armed_window_takes_one_handshake_only(api_client, notion):
    url = "/api/integrations/webhooks/notion"
    services.arm_verification("notion", minutes=5)
    assert 290 <= services.verification_armed_for("notion") <= 300
    assert api_client.post(url, notion.handshake_body(), content_type="application/json").status_code == 200
    assert services.verification_armed_for("notion") == 0  # closed by the first handshake
    racer = json.dumps({"verification_token": "secret_attacker"}).encode()
    assert api_client.post(url, racer, content_type="application/json").status_code == 200
    assert ProviderSecret.objects.get(service="notion").value == notion.verification_token


def test_a_configured_token_ignores_handshakes_even_when_armed(api_client, notion, settings):
    providers = {k: dict(v) for k, v in settings.INTEGRATIONS_PROVIDERS.items()}
    providers["notion"]["webhook_verification_token"] = notion.verification_token
    settings.INTEGRATIONS_PROVIDERS = providers
    services.arm_verification("notion")
    racer = json.dumps({"verification_token": "secret_attacker"}).encode()
    assert api_client.post("/api/integrations/webhooks/notion", racer, content_type="application/json").status_code == 200
    assert not ProviderSecret.objects.exists()

