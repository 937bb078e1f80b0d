"""The integrations admin: status, history, sync now, disconnect, and secrets never shown.

The provider is the Notion fake of the integrations tests: a real HTTP server on 127.0.0.1.
"""

# ruff: noqa: F811  (fixtures are imported and named as parameters)
from __future__ import annotations

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from devtools.testing.admin import action, admin_user, client_as, make_role_user, moderator, staff_member  # noqa: F401
from devtools.testing.celery import eager_celery  # noqa: F401  (autouse: queued syncs run inline)
from integrations.models import Connection, SyncRun
from integrations.tests.conftest import _integration_settings, connect, notion  # noqa: F401
from tasks.models import Task

pytestmark = pytest.mark.django_db

CONNECTIONS = reverse("admin:integrations_connection_changelist")
RUNS = reverse("admin:integrations_syncrun_changelist")


@pytest.fixture
def connected(auth_client, user, notion, connect):
    data_source = notion.add_data_source("Work")
    for i in range(3):
        notion.add_page(data_source, f"Imported {i}")
    connect(auth_client, notion, "notion")
    return Connection.objects.get(user=user, service="notion")


def test_sync_now_runs_the_sync_and_shows_history(
    client_as, staff_member, connected, user, django_capture_on_commit_callbacks
):
    client = client_as(staff_member)
    with django_capture_on_commit_callbacks(execute=True):
        response = action(client, CONNECTIONS, "sync_now", [connected.pk])
    assert response.status_code == 302
    run = SyncRun.objects.get(connection=connected)
    assert run.status == "succeeded"
    assert run.trigger == "manual"
    assert Task.objects.filter(user=user, source="notion").count() == 3

    page = client.get(reverse("admin:integrations_connection_change", args=[connected.pk])).content.decode()
    assert "succeeded" in page  # the history table
    assert "held, encrypted" in page
    listing = client.get(CONNECTIONS).content.decode()
    assert user.email in listing
    user_page = client.get(reverse("admin:accounts_user_change", args=[user.pk])).content.decode()
    assert "integration-status" in user_page
    assert client.get(RUNS).status_code == 200


def test_secrets_are_never_shown(client_as, staff_member, connected, user):
    connected.refresh_from_db()
    secrets = [connected.access_token, connected.refresh_token, connected.access_token_enc, connected.refresh_token_enc]
    assert all(secrets)
    client = client_as(staff_member)
    for url in (
        CONNECTIONS,
        reverse("admin:integrations_connection_change", args=[connected.pk]),
        reverse("admin:accounts_user_change", args=[user.pk]),
    ):
        body = client.get(url).content.decode()
        for secret in secrets:
            assert secret not in body, url
        assert "access_token_enc" not in body


def test_disconnect_wipes_secrets_and_revokes(client_as, staff_member, connected, notion):
    response = action(client_as(staff_member), CONNECTIONS, "disconnect", [connected.pk])
    assert response.status_code == 302
    connected.refresh_from_db()
    assert connected.status == "disconnected"
    assert connected.access_token_enc == connected.refresh_token_enc == ""
    assert any(r["path"] == "/v1/oauth/revoke" for r in notion.requests)
    # a disconnected connection is not synced
    response = action(client_as(staff_member), CONNECTIONS, "sync_now", [connected.pk])
    assert not SyncRun.objects.filter(connection=connected).exists()


def test_settings_change_through_the_service(client_as, staff_member, connected):
    url = reverse("admin:integrations_connection_change", args=[connected.pk])
    client = client_as(staff_member)
    bad = client.post(url, {"auto_sync": "on", "sync_interval": "10"})
    assert bad.status_code == 200
    assert "At least 300 seconds" in bad.content.decode()
    ok = client.post(url, {"sync_interval": "7200"})  # auto_sync unchecked
    assert ok.status_code == 302
    connected.refresh_from_db()
    assert (connected.auto_sync, connected.sync_interval) == (False, 7200)


def test_moderator_has_no_integrations(client_as, moderator, connected):
    assert client_as(moderator).get(CONNECTIONS).status_code == 403
    action(client_as(moderator), CONNECTIONS, "disconnect", [connected.pk])
    connected.refresh_from_db()
    assert connected.status == "connected"


def test_connection_list_query_count(client_as, staff_member, make_role_user):
    from django.utils import timezone

    client = client_as(staff_member)

    def seed(n):
        for _ in range(n):
            conn = Connection.objects.create(user=make_role_user(), service="github", status="connected")
            SyncRun.objects.create(
                connection=conn, user=conn.user, status="failed", started_at=timezone.now(), error="boom"
            )

    seed(2)
    for url in (CONNECTIONS, RUNS):
        client.get(url)
    counts = {}
    for url in (CONNECTIONS, RUNS):
        with CaptureQueriesContext(db_connection) as ctx:
            assert client.get(url).status_code == 200
        counts[url] = len(ctx.captured_queries)
    seed(9)
    for url in (CONNECTIONS, RUNS):
        with CaptureQueriesContext(db_connection) as ctx:
            assert client.get(url).status_code == 200
        assert len(ctx.captured_queries) == counts[url], url
    # the dashboard counts the failed runs of the last 24 hours
    dashboard = client.get(reverse("admin:index")).content.decode()
    assert 'data-stat="failed-syncs"' in dashboard
    assert dashboard.split('data-stat="failed-syncs"')[1].split('class="figure">')[1].startswith("11")


ARM = reverse("admin:integrations_providersecret_arm", args=["notion"])
SECRETS = reverse("admin:integrations_providersecret_changelist")


def test_an_admin_arms_notion_webhook_verification_once(client_as, admin_user, staff_member, notion, api_client):
    from integrations import services
    from integrations.models import ProviderSecret

    assert client_as(staff_member).post(ARM).status_code == 403  # a lower role cannot open the window
    assert services.verification_armed_for("notion") == 0
    client = client_as(admin_user)
    page = client.get(SECRETS).content.decode()
    assert "Arm Notion webhook verification" in page
    assert client.get(ARM).status_code == 405  # a state change is a POST (CSRF-protected)
    response = client.post(ARM)
    assert response.status_code == 302 and services.verification_armed_for("notion") > 0
    url = "/api/integrations/webhooks/notion"
    assert api_client.post(url, notion.handshake_body(), content_type="application/json").status_code == 200
    assert ProviderSecret.objects.get(service="notion").value == notion.verification_token
    page = client.get(SECRETS).content.decode()
    assert notion.verification_token not in page  # the key itself is never shown
    assert client.post(reverse("admin:integrations_providersecret_arm", args=["github"])).status_code == 404
