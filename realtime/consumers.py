"""The one WebSocket endpoint, `/ws/` (API.md "WebSocket"). Parse, authorize, call, respond.

- Auth: `?token=<access JWT>` checked with simplejwt's AccessToken (signature, expiry, type),
  the user must exist and be active and the token must carry the current password version.
  No valid token: the socket is accepted and closed at once with code 4401 (an HTTP-level
  refusal could not carry a code). A token that expires while the socket is open closes it
  with 4401 on the next client message.
- The Origin header is checked against ALLOWED_HOSTS by channels' AllowedHostsOriginValidator
  (see realtime/routing.py); a foreign origin gets an HTTP 403 at the handshake.
- Each socket joins its user's group `user.<id>`; rooms are joined with `join-room`. Which
  rooms exist, who may join them and every message type beyond ping/join/leave are
  registered by the domain apps (realtime/registry.py).
- Limits per socket: MAX_MESSAGE_BYTES per message, a token bucket of RATE_BURST messages
  refilled at RATE_PER_SECOND; over either limit the message is dropped with an `error`
  event, and a socket that keeps flooding is closed (4429).
- Malformed JSON, a non-object, an unknown `type` or bad fields get an `error` event; the
  socket stays open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from kernel import jsonlimits, tracing
from kernel.api.errors import ErrorCode
from realtime.errors import SocketError

from . import presence, publisher, registry
from .auth import authenticate

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FLOODING = 4429
CLOSE_TRY_AGAIN = 1013
MAX_MESSAGE_BYTES = 16 * 1024
RATE_PER_SECOND = 10.0
RATE_BURST = 30.0
MAX_DROPPED = 100
MAX_ROOMS = 20


WsError = registry.CommandError


class RealtimeConsumer(AsyncJsonWebsocketConsumer):
    user = None
    user_id: str | None = None

    # ------------------------------------------------------------------ lifecycle
    async def connect(self):
        self._init_socket_state()
        query = parse_qs(self.scope.get("query_string", b"").decode("latin1"))
        raw_token = (query.get("token") or [None])[0]
        try:
            user, exp = await authenticate(raw_token, self.scope.get("user"))
        except Exception:  # the database is down: say "try again later", not a handshake 500
            logger.exception("ws: could not authenticate")
            await self.accept()
            await self.close(code=CLOSE_TRY_AGAIN)
            return
        if user is None:
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        joined = await self._join_user(user, exp)
        await self.accept()
        if not joined:
            await self.close(code=CLOSE_TRY_AGAIN)
            return
        await self._track()
        await self.send_event("connected", {"user_id": self.user_id})

    def _init_socket_state(self) -> None:
        self.rooms: set[str] = set()
        self._tokens = RATE_BURST
        self._last_refill = time.monotonic()
        self._dropped = 0
        self._heartbeat: asyncio.Task | None = None
        self.token_exp = None

    async def _join_user(self, user, exp) -> bool:
        """Join the user's group (every publisher's events for them). False when the channel
        layer (Redis) is down."""
        self.user, self.user_id, self.token_exp = user, str(user.pk), exp
        publisher.remember_loop(asyncio.get_running_loop())
        try:
            await self.channel_layer.group_add(publisher.user_group(self.user_id), self.channel_name)
        except Exception:
            logger.exception("ws: could not join the user group")
            self.user_id = None
            return False
        return True

    async def _track(self) -> None:
        """Connection tracking and the presence heartbeat, once the socket is open."""
        try:
            await presence.register(self.user_id, self.channel_name)
        except Exception:
            logger.warning("ws: connection tracking unavailable", exc_info=True)
        self._heartbeat = asyncio.ensure_future(self._beat())

    async def disconnect(self, code):
        if not self.user_id:
            return
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        await self.channel_layer.group_discard(publisher.user_group(self.user_id), self.channel_name)
        for room in list(self.rooms):
            await self._leave(room)
        try:
            await presence.unregister(self.user_id, self.channel_name)
        except Exception:
            logger.warning("ws: connection tracking unavailable on disconnect", exc_info=True)

    async def _beat(self):
        while True:
            await asyncio.sleep(presence.HEARTBEAT_SECONDS)
            with contextlib.suppress(Exception):
                await presence.refresh(self.user_id, self.channel_name)
                for room in list(self.rooms):
                    kind_name, ident = registry.parse_room(room)
                    hook = registry.room_kind(kind_name).on_heartbeat
                    if hook is not None:
                        await database_sync_to_async(hook)(self.user_id, ident, self.channel_name)

    # ------------------------------------------------------------------ sending
    async def send_event(self, event_type: str, payload: dict | None = None):
        event_id = await publisher.anext_event_id(self.user_id)
        await self.send_json(publisher.build_event(event_type, payload, event_id=event_id))

    async def send_error(self, code: str, message: str):
        if self.user_id:
            await self.send_event("error", {"code": code, "message": message})

    async def rt_user(self, message):
        """An event for this user, id already assigned by the publisher."""
        with tracing.span_from(message.get("trace"), "realtime.deliver", **{"realtime.event": message["event"].get("type")}):
            await self.send_json(message["event"])

    async def rt_room(self, message):
        """A room event: the id comes from this socket's user's sequence."""
        with tracing.span_from(message.get("trace"), "realtime.deliver", **{"realtime.event": message["event"].get("type")}):
            event = dict(message["event"])
            event["id"] = await publisher.anext_event_id(self.user_id)
            await self.send_json(event)

    async def rt_close(self, message):
        """The account was deactivated or deleted: no socket stays open."""
        await self.close(code=message.get("code", CLOSE_UNAUTHENTICATED))

    # ------------------------------------------------------------------ receiving
    async def websocket_receive(self, message):
        if not self.user_id:
            return
        text = message.get("text")
        if text is None:
            await self.send_error(SocketError.UNSUPPORTED, "Binary frames are not supported; send JSON text.")
            return
        if not self._take_token():
            self._dropped += 1
            if self._dropped > MAX_DROPPED:
                await self.close(code=CLOSE_FLOODING)
                return
            await self.send_error(ErrorCode.RATE_LIMITED, f"Too many messages (limit {RATE_PER_SECOND:g}/s).")
            return
        if len(text.encode()) > MAX_MESSAGE_BYTES:
            await self.send_error(ErrorCode.TOO_LARGE, f"Message larger than {MAX_MESSAGE_BYTES} bytes.")
            return
        if self.token_exp and time.time() >= self.token_exp:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        try:
            content = jsonlimits.loads(text)
        except jsonlimits.JSONLimitError as exc:
            await self.send_error(exc.code, exc.message)
            return
        except ValueError:
            await self.send_error(ErrorCode.INVALID_JSON, "Message is not valid JSON.")
            return
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            await self.send_error(SocketError.INVALID_MESSAGE, "A message must be a JSON object with a string 'type'.")
            return
        await self.receive_json(content)

    def _take_token(self) -> bool:
        now = time.monotonic()
        self._tokens = min(RATE_BURST, self._tokens + (now - self._last_refill) * RATE_PER_SECOND)
        self._last_refill = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    HANDLERS = {
        "ping": "on_ping",
        "join-room": "on_join_room",
        "leave-room": "on_leave_room",
    }

    async def receive_json(self, content, **kwargs):
        message_type = content["type"]
        own = self.HANDLERS.get(message_type)
        registered = None if own else registry.command(message_type)
        if own is None and registered is None:
            await self.send_error(SocketError.UNKNOWN_TYPE, f"Unknown message type {message_type[:40]!r}.")
            return
        try:
            if own is not None:
                await getattr(self, own)(content)
            else:
                reply = await database_sync_to_async(registered)(self.user, content)
                if reply is not None:
                    await self.send_event(*reply)
        except WsError as exc:
            await self.send_error(exc.code, exc.message)
        except Exception:
            logger.exception("ws: handler for %s failed", message_type[:40])
            await self.send_error(SocketError.SERVER_ERROR, "Something went wrong handling that message.")

    # ------------------------------------------------------------------ handlers
    async def on_ping(self, content):
        await self.send_event("pong", {})

    async def on_join_room(self, content):
        room = content.get("room")
        try:
            kind, ident = publisher.parse_room(room)
        except publisher.InvalidRoom as exc:
            raise WsError(SocketError.INVALID_ROOM, str(exc)) from None
        if room not in self.rooms:
            if len(self.rooms) >= MAX_ROOMS:
                raise WsError(SocketError.TOO_MANY_ROOMS, f"A socket may be in at most {MAX_ROOMS} rooms.")
            allowed = await database_sync_to_async(registry.room_kind(kind).may_join)(self.user_id, ident)
            if not allowed:
                raise WsError(SocketError.FORBIDDEN, f"You may not join {room}.")
            await self.channel_layer.group_add(publisher.room_group(room), self.channel_name)
            self.rooms.add(room)
        await self.send_event("room-joined", {"room": room})
        on_join = registry.room_kind(kind).on_join
        if on_join is not None:
            for reply in await database_sync_to_async(on_join)(self.user_id, ident, self.channel_name) or ():
                await self.send_event(*reply)

    async def on_leave_room(self, content):
        room = content.get("room")
        try:
            publisher.parse_room(room)
        except publisher.InvalidRoom as exc:
            raise WsError(SocketError.INVALID_ROOM, str(exc)) from None
        if room in self.rooms:
            await self._leave(room)
        await self.send_event("room-left", {"room": room})

    async def _leave(self, room: str):
        self.rooms.discard(room)
        await self.channel_layer.group_discard(publisher.room_group(room), self.channel_name)
        kind, ident = publisher.parse_room(room)
        on_leave = registry.room_kind(kind).on_leave
        if on_leave is not None:
            with contextlib.suppress(Exception):
                await database_sync_to_async(on_leave)(self.user_id, ident, self.channel_name)
