"""Shared helpers for the gamification endpoint tests."""

from __future__ import annotations

from contextlib import contextmanager

from django.db import connection
from django.test.utils import CaptureQueriesContext

from deepiri.redis import get_redis
from gamification import services


def give(user, points, key=None):
    return services.award(
        user, points=points, xp=points, reason="test", source="admin", idempotency_key=key or f"give:{user.pk}:{points}"
    )


@contextmanager
def count_queries():
    with CaptureQueriesContext(connection) as ctx:
        yield ctx


@contextmanager
def count_redis_calls(monkeypatch):
    """Counts round trips the Redis client makes outside pipelines (script calls included)."""
    client = get_redis()
    calls: list = []
    original = client.execute_command

    def counting(*args, **kwargs):
        calls.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(client, "execute_command", counting)
    yield calls
    monkeypatch.setattr(client, "execute_command", original)
