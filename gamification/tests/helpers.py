"""Shared helpers for the gamification endpoint tests."""

from __future__ import annotations

from contextlib import contextmanager

from django.db import connection
from django.test.utils import CaptureQueriesContext

from devtools.testing.counting import count_redis_calls  # noqa: F401 - used by the endpoint tests
from gamification import services


def give(user, points, key=None):
    return services.award(
        user, points=points, xp=points, reason="test", source="admin", idempotency_key=key or f"give:{user.pk}:{points}"
    )


@contextmanager
def count_queries():
    with CaptureQueriesContext(connection) as ctx:
        yield ctx
