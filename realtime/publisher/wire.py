"""Socket event names and wire format: channel-layer groups and message types, and the event
envelope every client receives (`type`, `id`, `ts`, camelized payload)."""

from __future__ import annotations

from datetime import UTC, datetime

from kernel.api.casing import camelize

from ..registry import parse_room

# Channel-layer message types, handled by `RealtimeConsumer.rt_user` / `rt_room` / `rt_close`.
USER_MESSAGE = "rt.user"
ROOM_MESSAGE = "rt.room"
CLOSE_MESSAGE = "rt.close"


def user_group(user_id: str) -> str:
    return f"user.{user_id}"


def room_group(room: str) -> str:
    kind, ident = parse_room(room)
    return f"room.{kind}.{ident}"


def now_ts() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build_event(event_type: str, payload: dict | None, *, event_id: int | None = None, ts: str | None = None) -> dict:
    event = {"type": event_type}
    if event_id is not None:
        event["id"] = event_id
    event["ts"] = ts or now_ts()
    event.update(camelize(payload or {}))
    return event
