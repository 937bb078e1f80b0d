"""Provider registry keyed by slug: `get_provider("notion")`, `all_providers()`."""

from __future__ import annotations

from integrations.providers.base import Provider

_registry: dict[str, Provider] = {}


def register(provider_cls: type[Provider]) -> type[Provider]:
    _registry[provider_cls.slug] = provider_cls()
    return provider_cls


def _load() -> None:
    from integrations.providers import (  # noqa: F401, PLC0415 - they import this registry
        github,
        google_docs,
        notion,
        trello,
    )


def get_provider(slug: str) -> Provider:
    _load()
    return _registry[slug]


def all_providers() -> list[Provider]:
    _load()
    return list(_registry.values())


def slugs() -> list[str]:
    _load()
    return list(_registry)
