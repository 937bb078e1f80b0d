"""Shared test fixtures (CONVENTIONS.md). App-specific ones live in <app>/tests/conftest.py."""

from __future__ import annotations

import itertools
import os

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from devtools.testing.faults import private_broker  # noqa: F401 (fixture: a broker a test can kill)
from devtools.testing.tracing import otlp_collector, traced  # noqa: F401 (fixtures: spans in memory / over OTLP)

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

_counter = itertools.count(1)


def pytest_collection_modifyitems(config, items):
    """Outside CI, tests marked `services` skip when PostgreSQL/Redis are not configured.
    In CI they never skip: a missing service is a failure."""
    have_services = settings.USING_POSTGRES and bool(settings.REDIS_URL)
    if have_services:
        return
    if IN_CI:
        raise pytest.UsageError("CI must run with DATABASE_URL (PostgreSQL) and REDIS_URL set.")
    skip = pytest.mark.skip(reason="needs PostgreSQL and Redis (set DATABASE_URL and REDIS_URL)")
    for item in items:
        if "services" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _isolated_redis_and_cache():
    """Each test starts with an empty cache/Redis db of its own (never FLUSHALL: db is shared)."""
    from django.core.cache import cache

    from kernel.redis import breaker, get_redis

    breaker.reset()  # a timeout an earlier test provoked must not make this one skip Redis
    get_redis().flushdb()
    cache.clear()
    # The database starts with an empty ledger, so empty leaderboards are the built ones: mark
    # them so (a missing marker means "Redis lost the boards" and starts a rebuild).
    from gamification.leaderboards import generation_key

    get_redis().set(generation_key(), "test-start")


def _is_transactional(request) -> bool:
    marker = request.node.get_closest_marker("django_db")
    return bool(marker and marker.kwargs.get("transaction")) or bool(
        {"transactional_db", "live_server"} & set(request.fixturenames)
    )


@pytest.fixture(autouse=True)
def _data_migrations_after_flush(request):
    """A transactional test flushes every table when it ends, taking the rows that data
    migrations seeded (the badge catalogue) with it; put them back for the next one.
    (Role groups come back by themselves: the admin app re-syncs them on post_migrate.)"""
    if not _is_transactional(request):
        return
    request.getfixturevalue("transactional_db")
    import importlib

    from django.apps import apps

    from gamification.models import Badge

    if not Badge.objects.exists():
        importlib.import_module("gamification.migrations.0002_seed_badges").seed(apps, None)


@pytest.fixture(autouse=True)
def _email_backend(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def password():
    return "Correct-Horse-42!"


@pytest.fixture
def make_user(db, password):
    from accounts.models import User

    def make(email=None, name=None, password=password, timezone="UTC", **extra):
        n = next(_counter)
        return User.objects.create_user(
            email=email or f"user{n}@example.com", password=password, name=name or f"User {n}", timezone=timezone, **extra
        )

    return make


@pytest.fixture
def user(make_user):
    return make_user(email="alice@example.com", name="Alice")


@pytest.fixture
def other_user(make_user):
    return make_user(email="bob@example.com", name="Bob")


@pytest.fixture
def staff_user(make_user):
    return make_user(email="staff@example.com", name="Staff", is_staff=True)


@pytest.fixture
def api_client():
    return APIClient()


def client_for(user) -> APIClient:
    from accounts.tokens import issue_pair

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_pair(user)['token']}")
    client.user = user
    return client


@pytest.fixture
def auth_client(user):
    return client_for(user)


@pytest.fixture
def other_client(other_user):
    return client_for(other_user)


@pytest.fixture
def client_factory(db):
    return client_for
