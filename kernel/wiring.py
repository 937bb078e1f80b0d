"""Who plugged what into which registry, so the whole wiring can be printed (`manage.py wiring`).

The layers only let a lower app learn about a higher one through registries (export sections,
socket rooms and commands, dashboard figures, ...). Each registry function calls `record` with
the entry's key and the callable (or class) that an app contributed; the contributor is named by
that callable's module and qualified name, and its app by the module's package. Domain-event
subscriptions are read from `kernel.events` itself.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Contribution:
    registry: str
    key: str
    contributor: str

    @property
    def app(self) -> str:
        return self.contributor.split(".", 1)[0]


_contributions: dict[tuple[str, str], Contribution] = {}


def describe(target) -> str:
    """`module.qualname` of a function or class; a lambda or a closure is named by its module and
    the function that made it (`gamification.handlers.register.<lambda>`). A string is taken
    as the name itself."""
    if isinstance(target, str):
        return target
    func = getattr(target, "__func__", target)
    module = getattr(func, "__module__", None) or type(func).__module__
    qualname = getattr(func, "__qualname__", None) or type(func).__qualname__
    return f"{module}.{qualname.replace('.<locals>', '')}"


def record(registry: str, key: str, target) -> None:
    """Note that `target` was registered in `registry` under `key` (a later entry replaces an
    earlier one with the same key, as the registries themselves do)."""
    _contributions[(registry, str(key))] = Contribution(registry, str(key), describe(target))


def contributions() -> list[Contribution]:
    return sorted(_contributions.values(), key=lambda c: (c.registry, c.key))
