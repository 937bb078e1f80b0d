from __future__ import annotations

import pytest

from challenges.tests.fake_cyrex import FakeCyrex
from devtools.testing.celery import (  # noqa: F401 - eager_celery is autouse; celery_worker starts a real worker
    celery_worker,
    eager_celery,
)


@pytest.fixture
def cyrex(settings):
    """The fake AI service, with the client pointed at it and tight timeouts."""
    with FakeCyrex(api_key="test-key") as server:
        settings.AI_SERVICE_URL = server.url
        settings.AI_SERVICE_API_KEY = "test-key"
        settings.AI_SERVICE_CONNECT_TIMEOUT = 0.5
        settings.AI_SERVICE_READ_TIMEOUT = 0.5
        settings.AI_SERVICE_TOTAL_TIMEOUT = 2.0
        settings.AI_SERVICE_MAX_RETRIES = 2
        settings.AI_SERVICE_BACKOFF = 0.01
        settings.AI_BREAKER_THRESHOLD = 3
        settings.AI_BREAKER_COOLDOWN = 30
        yield server


@pytest.fixture
def no_ai(settings):
    settings.AI_SERVICE_URL = ""
