"""Domain events: the one way apps react to each other (DESIGN.md §3).

    from deepiri import events
    events.subscribe("task.completed", handler)                    # in the emitter's transaction
    events.subscribe("task.completed", handler, after_commit=True) # after the transaction commits
    results = events.emit("task.completed", user=user, task=task, ...)

In-transaction handlers run synchronously inside the emitter's transaction; what they return
(non-None) is collected and returned by `emit` (gamification returns its `effects` this way),
and an exception rolls the whole change back. After-commit handlers run only if and when the
transaction commits (Celery dispatch, channel-layer sends, Mongo writes); an exception there is
logged, never raised into the request that already committed.

Handlers are registered in each app's `AppConfig.ready()`. Event names and payloads are listed
in each app's `events.py`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from contextlib import contextmanager
from functools import partial

from django.db import transaction

logger = logging.getLogger(__name__)

_handlers: dict[str, list[Callable]] = defaultdict(list)
_after_commit: dict[str, list[Callable]] = defaultdict(list)
_recorders: list[list] = []


def subscribe(name: str, handler: Callable, *, after_commit: bool = False) -> None:
    registry = _after_commit if after_commit else _handlers
    if handler not in registry[name]:
        registry[name].append(handler)


def unsubscribe(name: str, handler: Callable) -> None:
    for registry in (_handlers, _after_commit):
        if handler in registry[name]:
            registry[name].remove(handler)


def _run_after_commit(name: str, handler: Callable, payload: dict) -> None:
    try:
        handler(name=name, **payload)
    except Exception:  # an after-commit reaction must never break the committed request
        logger.exception("after-commit handler %s for %s failed", getattr(handler, "__qualname__", handler), name)


def emit(name: str, **payload) -> list:
    """Emit a domain event. Returns the non-None results of the in-transaction handlers."""
    for recorder in _recorders:
        recorder.append((name, payload))
    results = []
    for handler in list(_handlers[name]):
        result = handler(name=name, **payload)
        if result is not None:
            results.append(result)
    for handler in list(_after_commit[name]):
        transaction.on_commit(partial(_run_after_commit, name, handler, payload))
    return results


@contextmanager
def capture():
    """Record every event emitted inside the block (for tests): yields a list of (name, payload)."""
    seen: list = []
    _recorders.append(seen)
    try:
        yield seen
    finally:
        _recorders.remove(seen)
