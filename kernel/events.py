"""Domain events: how an app lets others react to what it did (DESIGN.md §3).

Each emitting app defines its events in its own `events.py` as frozen dataclasses derived from
`Event`, with the dotted `name` as a class attribute:

    @dataclass(frozen=True, kw_only=True)
    class TaskCompleted(Event):
        name: ClassVar[str] = "task.completed"
        user: User
        task: Task

    events.emit(TaskCompleted(user=user, task=task))                       # the emitter
    events.subscribe(TaskCompleted, handler)                               # in the emitter's transaction
    events.subscribe(TaskCompleted, handler, after_commit=True)            # once it committed

A handler receives the event object itself, so a renamed or missing field fails where the
event is built, not silently in a subscriber. Events carry reactions, not answers: `emit`
returns nothing, and a service that needs another app's answer calls that app's service.

In-transaction handlers run synchronously inside the emitter's transaction; an exception rolls
the whole change back. After-commit handlers run only if and when the transaction commits
(Celery dispatch, channel-layer sends, Mongo writes); an exception there is logged, never
raised into the request that already committed. Handlers are registered in each app's
`handlers.register()` (`manage.py wiring` prints them all).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import ClassVar

from django.db import transaction

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every domain event."""

    name: ClassVar[str] = ""


_handlers: dict[type[Event], list[Callable]] = defaultdict(list)
_after_commit: dict[type[Event], list[Callable]] = defaultdict(list)
_recorders: list[list] = []


def _check_type(event_type) -> None:
    if not (isinstance(event_type, type) and issubclass(event_type, Event) and event_type.name):
        raise TypeError(f"{event_type!r} is not a domain event class")


def subscribe(event_type: type[Event], handler: Callable, *, after_commit: bool = False) -> None:
    _check_type(event_type)
    registry = _after_commit if after_commit else _handlers
    if handler not in registry[event_type]:
        registry[event_type].append(handler)


def subscriptions() -> list[tuple[type[Event], Callable, bool]]:
    """Every (event class, handler, after_commit) registered, in registration order per event."""
    return [
        (event_type, handler, after_commit)
        for after_commit, registry in ((False, _handlers), (True, _after_commit))
        for event_type, handlers in registry.items()
        for handler in handlers
    ]


def _run_after_commit(handler: Callable, event: Event) -> None:
    try:
        handler(event)
    except Exception:  # an after-commit reaction must never break the committed request
        logger.exception("after-commit handler %s for %s failed", getattr(handler, "__qualname__", handler), event.name)


def emit(event: Event) -> None:
    """Hand `event` to its in-transaction handlers now and its after-commit handlers on commit."""
    _check_type(type(event))
    for recorder in _recorders:
        recorder.append(event)
    for handler in list(_handlers[type(event)]):
        handler(event)
    for handler in list(_after_commit[type(event)]):
        transaction.on_commit(partial(_run_after_commit, handler, event))


@contextmanager
def capture():
    """Record every event emitted inside the block (for tests): yields the list of events."""
    seen: list[Event] = []
    _recorders.append(seen)
    try:
        yield seen
    finally:
        _recorders.remove(seen)
