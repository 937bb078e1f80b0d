"""Fixtures: the four fake providers, wired into settings, and a helper that connects a user
through the real authorize -> callback dance."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from devtools.testing.celery import celery_worker, eager_celery  # noqa: F401  (fixtures)
from integrations.tests.fakes.github import FakeGitHub
from integrations.tests.fakes.google import FakeGoogle
from integrations.tests.fakes.notion import FakeNotion
from integrations.tests.fakes.trello import FakeTrello


def _wire(settings, slug: str, fake) -> None:
    providers = {k: dict(v) for k, v in settings.INTEGRATIONS_PROVIDERS.items()}
    providers[slug] = {**providers[slug], **fake.settings()}
    settings.INTEGRATIONS_PROVIDERS = providers


@pytest.fixture(autouse=True)
def _integration_settings(settings):
    settings.INTEGRATIONS_PUBLIC_URL = "http://testserver"
    settings.INTEGRATIONS_COMPLETE_URL = "http://app.test/integrations"
    settings.INTEGRATIONS_HTTP_RETRIES = 1
    settings.INTEGRATIONS_UNDERSTAND_IMPORTS = False


@pytest.fixture
def notion(settings):
    with FakeNotion() as fake:
        _wire(settings, "notion", fake)
        yield fake


@pytest.fixture
def github(settings):
    with FakeGitHub() as fake:
        _wire(settings, "github", fake)
        yield fake


@pytest.fixture
def github_app(settings):
    """GitHub App user tokens: 8 h access tokens, rotating refresh tokens."""
    with FakeGitHub(expiring=True) as fake:
        _wire(settings, "github", fake)
        yield fake


@pytest.fixture
def trello(settings):
    with FakeTrello() as fake:
        _wire(settings, "trello", fake)
        yield fake


@pytest.fixture
def google(settings):
    with FakeGoogle() as fake:
        _wire(settings, "google_docs", fake)
        yield fake


def callback_path(location: str) -> str:
    parts = urlsplit(location)
    return f"{parts.path}?{parts.query}"


def connect_oauth(client, fake, service: str):
    """POST {service}/connect -> the browser opens the authorize URL -> the fake approves and
    redirects to our callback -> we store the connection. Returns the final redirect's query."""
    response = client.post(f"/api/integrations/{service}/connect")
    assert response.status_code == 200, response.content
    location = fake.follow_authorize(response.json()["data"]["authorizeUrl"])
    final = client.get(callback_path(location))
    assert final.status_code == 302, final.content
    return {k: v[0] for k, v in parse_qs(urlsplit(final["Location"]).query).items()}


@pytest.fixture
def connect():
    return connect_oauth
