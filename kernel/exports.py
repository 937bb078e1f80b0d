"""What `GET /api/users/export` returns: every app registers a section in its handlers.register()."""

from __future__ import annotations

from collections.abc import Callable

from kernel import wiring

_sections: dict[str, Callable] = {}


def register(name: str, fn: Callable) -> None:
    _sections[name] = fn
    wiring.record("export sections", name, fn)


def export_user(user) -> dict:
    return {name: fn(user) for name, fn in sorted(_sections.items())}
