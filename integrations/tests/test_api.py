"""The Integrations endpoints of API.md: auth, validation (4xx with field errors), scoping,
state binding/expiry/reuse, settings, sync/all, export, and query counts."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from integrations.models import Connection, OAuthState, SyncRun
from integrations.providers.base import Account, TokenSet
from integrations.services import store_connection
from integrations.tests.conftest import callback_path

pytestmark = pytest.mark.django_db


def _connection(user, service="github", **fields):
    conn = store_connection(
        user, service, TokenSet(access_token=f"tok-{service}"), Account(id="1", name="ada"), auth_type="token"
    )
    if fields:
        Connection.objects.filter(pk=conn.pk).update(**fields)
        conn.refresh_from_db()
    return conn


def test_endpoints_need_authentication(api_client):
    for method, path in [
        ("get", "/api/integrations"),
        ("get", "/api/integrations/providers"),
        ("post", "/api/integrations/notion/connect"),
        ("post", "/api/integrations/connect"),
        ("post", "/api/integrations/github/sync"),
        ("post", "/api/integrations/sync/all"),
        ("patch", "/api/integrations/github"),
        ("post", "/api/integrations/github/disconnect"),
    ]:
        assert getattr(api_client, method)(path).status_code == 401, path


def test_list_never_shows_secrets_and_runs_constant_queries(auth_client, user, django_assert_num_queries):
    _connection(user, "github")
    auth_client.get("/api/integrations/providers")  # the signed-in user is in the auth cache from here on
    with django_assert_num_queries(2):  # count, page
        one = auth_client.get("/api/integrations?limit=1")
    for service in ("notion", "trello", "google_docs"):
        _connection(user, service)
    with django_assert_num_queries(2):
        four = auth_client.get("/api/integrations?limit=4")
    assert len(one.json()["data"]) == 1 and len(four.json()["data"]) == 4
    assert four.json()["pagination"]["total"] == 4
    text = four.content.decode()
    assert "tok-" not in text and "Token" not in text.replace("tokenExpiresAt", "")
    row = four.json()["data"][0]
    assert row["_id"] == row["id"] and row["configuration"]["autoSync"] is True
    assert auth_client.get("/api/integrations?limit=0").status_code == 400


def test_providers_catalogue(auth_client, user, notion):
    _connection(user, "github")
    data = {p["service"]: p for p in auth_client.get("/api/integrations/providers").json()["data"]}
    assert set(data) == {"notion", "trello", "github", "google_docs"}
    assert data["notion"]["configured"] is True and data["notion"]["authType"] == "oauth2"
    assert data["github"]["connected"] is True and data["trello"]["authType"] == "oauth1"
    assert data["google_docs"]["tokenConnect"] is False


def test_connect_unknown_or_unconfigured_service(auth_client, settings):
    assert auth_client.post("/api/integrations/jira/connect").status_code == 404
    providers = {k: dict(v) for k, v in settings.INTEGRATIONS_PROVIDERS.items()}
    providers["github"]["client_id"] = ""
    settings.INTEGRATIONS_PROVIDERS = providers
    response = auth_client.post("/api/integrations/github/connect")
    assert response.status_code == 400 and "service" in response.json()["errors"]


def test_state_is_single_use_expiring_and_checked(auth_client, user, notion):
    url = auth_client.post("/api/integrations/notion/connect").json()["data"]["authorizeUrl"]
    location = notion.follow_authorize(url)
    first = auth_client.get(callback_path(location))
    assert "status=connected" in first["Location"]
    replay = auth_client.get(callback_path(location))  # the same state (and code) again
    assert "status=error" in replay["Location"] and "already+used" in replay["Location"]

    url = auth_client.post("/api/integrations/notion/connect").json()["data"]["authorizeUrl"]
    state = parse_qs(urlsplit(url).query)["state"][0]
    OAuthState.objects.filter(state=state).update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = auth_client.get(callback_path(notion.follow_authorize(url)))
    assert "status=error" in expired["Location"] and "expired" in expired["Location"]

    forged = auth_client.get("/api/integrations/notion/callback?code=x&state=made-up")
    assert "status=error" in forged["Location"] and "unknown" in forged["Location"]
    # A state started for Notion cannot complete GitHub.
    url = auth_client.post("/api/integrations/notion/connect").json()["data"]["authorizeUrl"]
    state = parse_qs(urlsplit(url).query)["state"][0]
    assert "status=error" in auth_client.get(f"/api/integrations/github/callback?code=x&state={state}")["Location"]


def test_authorize_link_finished_in_another_browser_links_nothing(
    api_client, auth_client, other_client, user, other_user, notion
):
    """OAuth linking CSRF: the attacker starts a connection and gets the victim to open the
    authorize link; the victim's browser (with no nonce, or with the nonce of its own flow)
    finishes at our callback. Nothing is linked to anyone and the stolen state is burnt."""
    auth_client.post("/api/integrations/notion/connect")  # the victim has a flow of their own going
    for victims_browser in (api_client, auth_client):  # no nonce at all / the nonce of another flow
        start = other_client.post("/api/integrations/notion/connect")  # the attacker
        cookie = start.cookies["deepiri_oauth_notion"]
        assert cookie["httponly"] and cookie["samesite"] == "Lax"
        assert cookie["path"] == "/api/integrations/notion/callback" and int(cookie["max-age"]) == 600
        attackers_link = start.json()["data"]["authorizeUrl"]
        location = notion.follow_authorize(attackers_link)
        response = victims_browser.get(callback_path(location))
        assert response.status_code == 302
        query = parse_qs(urlsplit(response["Location"]).query)
        assert query["status"] == ["error"] and "another browser" in query["message"][0]
        assert not Connection.objects.exists()
        state = parse_qs(urlsplit(attackers_link).query)["state"][0]
        assert OAuthState.objects.get(state=state).used_at is not None  # burnt: the attacker cannot reuse it
        # The attacker's own browser cannot finish it afterwards either.
        location = notion.follow_authorize(attackers_link)
        assert parse_qs(urlsplit(other_client.get(callback_path(location))["Location"]).query)["status"] == ["error"]
        assert not Connection.objects.exists()


def test_the_browser_that_started_connects_and_its_nonce_is_cleared(auth_client, user, notion):
    url = auth_client.post("/api/integrations/notion/connect").json()["data"]["authorizeUrl"]
    location = notion.follow_authorize(url)
    stranger = APIClient()
    stranger.cookies["deepiri_oauth_notion"] = "guessed-" + "x" * 40  # a guessed nonce is no better
    assert parse_qs(urlsplit(stranger.get(callback_path(location))["Location"]).query)["status"] == ["error"]
    url = auth_client.post("/api/integrations/notion/connect").json()["data"]["authorizeUrl"]
    response = auth_client.get(callback_path(notion.follow_authorize(url)))
    assert parse_qs(urlsplit(response["Location"]).query)["status"] == ["connected"]
    assert Connection.objects.get(service="notion").user == user
    assert response.cookies["deepiri_oauth_notion"]["max-age"] == 0  # spent


def test_declined_authorization(auth_client, user, notion):
    url = auth_client.post("/api/integrations/notion/connect").json()["data"]["authorizeUrl"]
    state = parse_qs(urlsplit(url).query)["state"][0]
    response = auth_client.get(f"/api/integrations/notion/callback?error=access_denied&state={state}")
    assert "status=error" in response["Location"] and not Connection.objects.exists()
    assert parse_qs(urlsplit(response["Location"]).query)["message"] == ["You declined the connection at Notion."]


def test_provider_error_text_is_never_echoed(auth_client, user, notion):
    """A valid state plus `&error=<text>` must not put the attacker's words on our page."""
    bait = "Your account is suspended. Call +1-555-0100 <script>alert(1)</script>"
    url = auth_client.post("/api/integrations/notion/connect").json()["data"]["authorizeUrl"]
    state = parse_qs(urlsplit(url).query)["state"][0]
    response = auth_client.get(
        "/api/integrations/notion/callback", {"state": state, "error": bait, "error_description": bait}
    )
    message = parse_qs(urlsplit(response["Location"]).query)["message"][0]
    assert message == "Notion could not authorize the connection."
    assert "suspended" not in response["Location"] and "script" not in response["Location"]


def test_token_connect_validation(auth_client):
    cases = [
        ({}, {"service", "credentials"}),
        ({"service": "jira", "credentials": {"accessToken": "x"}}, {"service"}),
        ({"service": "github", "credentials": {}}, {"credentials"}),
        ({"service": "github", "credentials": "x"}, {"credentials"}),
        ({"service": "google_docs", "credentials": {"accessToken": "x"}}, {"service"}),
    ]
    for body, fields in cases:
        response = auth_client.post("/api/integrations/connect", body, format="json")
        assert response.status_code == 400, (body, response.content)
        assert set(response.json()["errors"]) == fields, body


def test_patch_settings_validation_and_scoping(auth_client, other_client, user):
    conn = _connection(user, "github")
    bad = auth_client.patch(
        "/api/integrations/github", {"syncInterval": 10, "syncFilters": {"colour": ["red"]}}, format="json"
    )
    assert bad.status_code == 400 and {"syncInterval", "syncFilters"} <= set(bad.json()["errors"])
    assert auth_client.patch("/api/integrations/github", {}, format="json").status_code == 400
    assert auth_client.patch("/api/integrations/github", {"autoSync": "maybe"}, format="json").status_code == 400
    ok = auth_client.patch(
        "/api/integrations/github",
        {"autoSync": False, "syncInterval": 900, "generateChallenges": True, "syncFilters": {"labels": ["bug"]}},
        format="json",
    )
    assert ok.status_code == 200
    cfg = ok.json()["data"]["configuration"]
    assert cfg == {
        "autoSync": False,
        "syncInterval": 900,
        "generateChallenges": True,
        "syncFilters": {**cfg["syncFilters"], "labels": ["bug"]},
    }
    conn.refresh_from_db()
    assert conn.sync_interval == 900 and conn.generate_challenges is True
    # Another user's integration does not exist for them.
    assert other_client.patch("/api/integrations/github", {"autoSync": True}, format="json").status_code == 404
    assert other_client.post("/api/integrations/github/sync").status_code == 404
    assert other_client.post("/api/integrations/github/disconnect").status_code == 404
    assert other_client.get("/api/integrations/github").status_code == 404


def test_sync_all_runs_connected_auto_sync_integrations(auth_client, user, github, notion):
    github.add_issue("One")
    token, _ = github.issue("ada", access_prefix="gho_", with_refresh=False)
    auth_client.post(
        "/api/integrations/connect", {"service": "github", "credentials": {"accessToken": token}}, format="json"
    )
    _connection(user, "notion", auto_sync=False)
    response = auth_client.post("/api/integrations/sync/all")
    assert response.status_code == 200
    data = response.json()["data"]
    assert [d["service"] for d in data] == ["github"] and data[0]["count"] == 1
    assert data[0]["tasks"][0]["title"] == "One"
    runs = auth_client.get("/api/integrations/github/runs")
    assert runs.status_code == 200 and runs.json()["data"][0]["createdCount"] == 1


def test_generate_challenges_for_new_imports(auth_client, user, github):
    from challenges.models import Challenge

    github.add_issue("Learn Rust ownership")
    token, _ = github.issue("ada", access_prefix="gho_", with_refresh=False)
    auth_client.post(
        "/api/integrations/connect", {"service": "github", "credentials": {"accessToken": token}}, format="json"
    )
    auth_client.patch("/api/integrations/github", {"generateChallenges": True}, format="json")
    auth_client.post("/api/integrations/github/sync")
    assert Challenge.objects.filter(user=user, task__source="github").count() == 1


def test_export_lists_integrations_without_secrets(auth_client, user):
    _connection(user, "github")
    response = auth_client.get("/api/users/export")
    assert response.status_code == 200
    section = response.json()["data"]["integrations"]
    assert section[0]["service"] == "github" and "tok-github" not in response.content.decode()


def test_sync_of_a_missing_connection(auth_client):
    assert auth_client.post("/api/integrations/github/sync").status_code == 404
    assert auth_client.post("/api/integrations/nope/sync").status_code == 404
    assert SyncRun.objects.count() == 0


def test_runs_list_constant_queries(auth_client, user, django_assert_num_queries):
    conn = _connection(user, "github")
    now = timezone.now()
    SyncRun.objects.bulk_create(
        [
            SyncRun(connection=conn, user=user, started_at=now - timedelta(minutes=i), status="succeeded")
            for i in range(12)
        ]
    )
    auth_client.get("/api/integrations/providers")  # the signed-in user is in the auth cache from here on
    with django_assert_num_queries(3):  # connection, count, page
        small = auth_client.get("/api/integrations/github/runs?limit=2")
    with django_assert_num_queries(3):
        large = auth_client.get("/api/integrations/github/runs?limit=10")
    assert len(small.json()["data"]) == 2 and len(large.json()["data"]) == 10
    pagination = large.json()["pagination"]
    assert pagination == {
        "total": 12, "limit": 10, "skip": 0, "hasMore": True, "next": "/api/integrations/github/runs?limit=10&skip=10",
        "nextCursor": pagination["nextCursor"],
    }


def test_token_connect_when_the_provider_is_busy_or_down(auth_client, github, settings):
    github.inject(status=429, path="/user")
    busy = auth_client.post(
        "/api/integrations/connect", {"service": "github", "credentials": {"accessToken": "x"}}, format="json"
    )
    assert busy.status_code == 503, busy.content
    providers = {k: dict(v) for k, v in settings.INTEGRATIONS_PROVIDERS.items()}
    providers["github"]["api_base"] = "http://127.0.0.1:9"  # nothing listens there
    settings.INTEGRATIONS_PROVIDERS = providers
    down = auth_client.post(
        "/api/integrations/connect", {"service": "github", "credentials": {"accessToken": "x"}}, format="json"
    )
    assert down.status_code == 503, down.content
    assert not Connection.objects.exists()
