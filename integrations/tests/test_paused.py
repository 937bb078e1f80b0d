"""A connection whose provider is not configured on this server (no client id/secret) is paused
with a visible reason instead of syncing, never calls the provider, and resumes once configured."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations import services
from integrations.models import Connection, SyncRun
from integrations.tasks import enqueue_due_syncs

pytestmark = pytest.mark.django_db


def _unconfigure(settings, slug: str) -> dict:
    saved = settings.INTEGRATIONS_PROVIDERS
    providers = {k: dict(v) for k, v in saved.items()}
    providers[slug] = {**providers[slug], "client_id": "", "client_secret": ""}
    settings.INTEGRATIONS_PROVIDERS = providers
    return saved


def test_unconfigured_provider_pauses_the_connection_and_configuring_it_resumes(auth_client, user, github, connect,
                                                                                settings):
    github.add_issue("Imported later")
    connect(auth_client, github, "github")
    conn = Connection.objects.get(user=user)
    Connection.objects.filter(pk=conn.pk).update(next_sync_at=timezone.now() - timedelta(minutes=1))
    configured = _unconfigure(settings, "github")
    calls = len(github.requests)

    assert enqueue_due_syncs() == 0  # the beat pass does not queue it...
    assert services.sync_connection(conn.pk) is None  # ...and a queued job does not run it
    conn.refresh_from_db()
    assert "not configured" in conn.paused_reason
    assert not SyncRun.objects.exists()

    listed = auth_client.get("/api/integrations").json()["data"]
    assert "not configured" in listed[0]["pausedReason"]
    refused = auth_client.post("/api/integrations/github/sync", {}, format="json")
    assert refused.status_code == 409
    assert "not configured" in refused.json()["message"]
    assert len(github.requests) == calls  # the provider was never called

    settings.INTEGRATIONS_PROVIDERS = configured  # a deploy configures it
    assert enqueue_due_syncs() == 1  # runs inline (eager Celery)
    conn.refresh_from_db()
    assert conn.paused_reason == ""
    assert SyncRun.objects.filter(connection=conn, status=SyncRun.Status.SUCCEEDED).exists()
    assert len(github.requests) > calls
    assert auth_client.get("/api/integrations").json()["data"][0]["pausedReason"] is None


def test_a_token_connection_needs_no_client_and_is_not_paused(user, settings):
    _unconfigure(settings, "github")
    conn = Connection.objects.create(user=user, service="github", auth_type="token")
    assert services.pause_reason(conn) == ""
    services.refresh_pauses()
    conn.refresh_from_db()
    assert conn.paused_reason == ""
