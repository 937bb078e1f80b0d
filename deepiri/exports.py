"""What `GET /api/users/export` returns: every app registers a section in AppConfig.ready()."""

from __future__ import annotations

from collections.abc import Callable

_sections: dict[str, Callable] = {}


def register(name: str, fn: Callable) -> None:
    _sections[name] = fn


def export_user(user) -> dict:
    return {name: fn(user) for name, fn in sorted(_sections.items())}
