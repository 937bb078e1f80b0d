"""What the apps above plug into the socket: room kinds and socket commands.

`realtime` sits below every domain app, so it cannot know what a `session:<id>` room is or
what `challenge-update` does. Each app registers its own in its `handlers.register()`:

    registry.register_room(RoomKind("session", may_join=sessions.is_participant,
                                    on_join=..., on_leave=..., on_heartbeat=...))
    registry.register_command("hint-request", socket.hint_request)

Every callback is synchronous (it may use the ORM); the consumer runs it in a thread.

- `may_join(user_id, ident) -> bool` decides who may join a room.
- `on_join(user_id, ident, channel_name) -> list[(event type, payload)]` runs after the join
  and returns events for the joining socket only (a session's current state).
- `on_leave` / `on_heartbeat(user_id, ident, channel_name)` follow the socket's presence.
- A command handler `(user, content) -> (event type, payload) | None` gets the parsed
  message; what it returns goes back to that socket. It raises `CommandError(code, message)`
  to answer with an `error` event; anything else becomes `server_error`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from kernel import wiring

Reply = tuple[str, dict]

_IDENT_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


class CommandError(Exception):
    """A refusal the client should see: `code` and `message` go into the `error` event."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class InvalidRoom(ValueError):
    pass


@dataclass(frozen=True)
class RoomKind:
    name: str
    may_join: Callable[[str, str], bool]
    # A closed set of idents (leaderboard periods) with the word the error message uses for one.
    idents: tuple[str, ...] | None = None
    ident_label: str = "id"
    on_join: Callable[[str, str, str], list[Reply]] | None = None
    on_leave: Callable[[str, str, str], None] | None = None
    on_heartbeat: Callable[[str, str, str], None] | None = None


_rooms: dict[str, RoomKind] = {}
_commands: dict[str, Callable] = {}


def register_room(kind: RoomKind) -> None:
    _rooms[kind.name] = kind
    wiring.record("socket rooms", kind.name, kind.may_join)


def register_command(message_type: str, handler: Callable) -> None:
    _commands[message_type] = handler
    wiring.record("socket commands", message_type, handler)


def rooms() -> dict[str, RoomKind]:
    return dict(_rooms)


def commands() -> dict[str, Callable]:
    return dict(_commands)


def command(message_type: str) -> Callable | None:
    return _commands.get(message_type)


def room_kind(name: str) -> RoomKind:
    return _rooms[name]


def parse_room(room) -> tuple[str, str]:
    """`"session:abc"` -> `("session", "abc")`; raises InvalidRoom."""
    if not isinstance(room, str):
        raise InvalidRoom("room must be a string like 'challenge:<id>'")
    kind_name, sep, ident = room.partition(":")
    kind = _rooms.get(kind_name)
    if not sep or kind is None or not _IDENT_RE.match(ident):
        choices = [f"'{name}:<{k.ident_label}>'" for name, k in _rooms.items()]
        listed = ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else "".join(choices)
        raise InvalidRoom(f"room must be {listed}")
    if kind.idents is not None and ident not in kind.idents:
        raise InvalidRoom(f"{kind_name} {kind.ident_label} must be one of {', '.join(kind.idents)}")
    return kind_name, ident
