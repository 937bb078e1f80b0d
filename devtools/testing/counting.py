"""Round-trip counters for tests that hold a code path to a number of Redis calls."""

from __future__ import annotations

from contextlib import contextmanager

from kernel.redis import get_redis


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
