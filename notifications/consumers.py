"""The one WebSocket endpoint, `/ws/` (API.md "WebSocket"). Parse, authorize, call, respond.

- Auth: `?token=<access JWT>` checked with simplejwt's AccessToken (signature, expiry, type),
  the user must exist and be active and the token must carry the current password version.
  No valid token: the socket is accepted and closed at once with code 4401 (an HTTP-level
  refusal could not carry a code). A token that expires while the socket is open closes it
  with 4401 on the next client message.
- The Origin header is checked against ALLOWED_HOSTS by channels' AllowedHostsOriginValidator
  (see deepiri/routing.py); a foreign origin gets an HTTP 403 at the handshake.
- Each socket joins its user's group `user.<id>`; rooms are joined with `join-room`.
- Limits per socket: MAX_MESSAGE_BYTES per message, a token bucket of RATE_BURST messages
  refilled at RATE_PER_SECOND; over either limit the message is dropped with an `error`
  event, and a socket that keeps flooding is closed (4429).
- Malformed JSON, a non-object, an unknown `type` or bad fields get an `error` event; the
  socket stays open.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from . import presence, realtime

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FLOODING = 4429
CLOSE_TRY_AGAIN = 1013
MAX_MESSAGE_BYTES = 16 * 1024
MAX_DATA_BYTES = 4 * 1024
RATE_PER_SECOND = 10.0
RATE_BURST = 30.0
MAX_DROPPED = 100
MAX_ROOMS = 20


class WsError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@database_sync_to_async
def authenticate(raw_token: str | None, scope_user=None):
    """Returns (user, expiry epoch) or (None, None). `scope_user` is the user that
    deepiri.ws_auth's middleware already resolved from the same token (saves a query)."""
    if not raw_token:
        return None, None
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from rest_framework_simplejwt.exceptions import TokenError
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.tokens import password_version

    try:
        token = AccessToken(raw_token)
    except TokenError:
        return None, None
    claim = settings.SIMPLE_JWT.get("USER_ID_CLAIM", "user_id")
    user_id = token.get(claim)
    if not user_id:
        return None, None
    if getattr(scope_user, "is_authenticated", False) and str(scope_user.pk) == str(user_id):
        user = scope_user
    else:
        user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None or not user.is_active or token.get("pwv") != password_version(user):
        return None, None
    from deepiri.redis import get_redis

    from .services import restore_sequence_floor

    try:
        if not get_redis().exists(realtime.seq_key(str(user.pk))):
            restore_sequence_floor(str(user.pk))  # Redis lost the sequence: never reuse stored ids
    except Exception:
        logger.warning("ws: could not check the event sequence", exc_info=True)
    return user, token.get("exp")


class RealtimeConsumer(AsyncJsonWebsocketConsumer):
    user = None
    user_id: str | None = None

    # ------------------------------------------------------------------ lifecycle
    async def connect(self):
        self.rooms: set[str] = set()
        self._tokens = RATE_BURST
        self._last_refill = time.monotonic()
        self._dropped = 0
        self._heartbeat: asyncio.Task | None = None
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
        self.user, self.user_id, self.token_exp = user, str(user.pk), exp
        realtime.remember_loop(asyncio.get_running_loop())
        try:
            await self.channel_layer.group_add(realtime.user_group(self.user_id), self.channel_name)
        except Exception:  # Redis (the channel layer) is down
            logger.exception("ws: could not join the user group")
            self.user_id = None
            await self.accept()
            await self.close(code=CLOSE_TRY_AGAIN)
            return
        await self.accept()
        try:
            await presence.register(self.user_id, self.channel_name)
        except Exception:
            logger.warning("ws: connection tracking unavailable", exc_info=True)
        self._heartbeat = asyncio.ensure_future(self._beat())
        await self.send_event("connected", {"user_id": self.user_id})

    async def disconnect(self, code):
        if not self.user_id:
            return
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        await self.channel_layer.group_discard(realtime.user_group(self.user_id), self.channel_name)
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
                session_ids = [r.split(":", 1)[1] for r in self.rooms if r.startswith("session:")]
                if session_ids:
                    from challenges import sessions

                    for session_id in session_ids:
                        await database_sync_to_async(sessions.presence_refresh)(
                            session_id, self.user_id, self.channel_name
                        )

    # ------------------------------------------------------------------ sending
    async def send_event(self, event_type: str, payload: dict | None = None):
        event_id = await realtime.anext_event_id(self.user_id)
        await self.send_json(realtime.build_event(event_type, payload, event_id=event_id))

    async def send_error(self, code: str, message: str):
        if self.user_id:
            await self.send_event("error", {"code": code, "message": message})

    async def rt_user(self, message):
        """An event for this user, id already assigned by the publisher."""
        await self.send_json(message["event"])

    async def rt_room(self, message):
        """A room event: the id comes from this socket's user's sequence."""
        event = dict(message["event"])
        event["id"] = await realtime.anext_event_id(self.user_id)
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
            await self.send_error("unsupported", "Binary frames are not supported; send JSON text.")
            return
        if not self._take_token():
            self._dropped += 1
            if self._dropped > MAX_DROPPED:
                await self.close(code=CLOSE_FLOODING)
                return
            await self.send_error("rate_limited", f"Too many messages (limit {RATE_PER_SECOND:g}/s).")
            return
        if len(text.encode()) > MAX_MESSAGE_BYTES:
            await self.send_error("too_large", f"Message larger than {MAX_MESSAGE_BYTES} bytes.")
            return
        if self.token_exp and time.time() >= self.token_exp:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        try:
            content = json.loads(text)
        except ValueError:
            await self.send_error("invalid_json", "Message is not valid JSON.")
            return
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            await self.send_error("invalid_message", "A message must be a JSON object with a string 'type'.")
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
        "challenge-update": "on_challenge_update",
        "hint-request": "on_hint_request",
    }

    async def receive_json(self, content, **kwargs):
        handler = self.HANDLERS.get(content["type"])
        if handler is None:
            await self.send_error("unknown_type", f"Unknown message type {content['type'][:40]!r}.")
            return
        try:
            await getattr(self, handler)(content)
        except WsError as exc:
            await self.send_error(exc.code, exc.message)
        except Exception:
            logger.exception("ws: handler %s failed", handler)
            await self.send_error("server_error", "Something went wrong handling that message.")

    # ------------------------------------------------------------------ handlers
    async def on_ping(self, content):
        await self.send_event("pong", {})

    async def on_join_room(self, content):
        room = content.get("room")
        try:
            kind, ident = realtime.parse_room(room)
        except realtime.InvalidRoom as exc:
            raise WsError("invalid_room", str(exc)) from None
        if room not in self.rooms:
            if len(self.rooms) >= MAX_ROOMS:
                raise WsError("too_many_rooms", f"A socket may be in at most {MAX_ROOMS} rooms.")
            allowed = await _may_join(self.user_id, kind, ident)
            if not allowed:
                raise WsError("forbidden", f"You may not join {room}.")
            await self.channel_layer.group_add(realtime.room_group(room), self.channel_name)
            self.rooms.add(room)
        await self.send_event("room-joined", {"room": room})
        if kind == "session":
            from challenges import sessions

            state = await database_sync_to_async(sessions.presence_joined)(ident, self.user_id, self.channel_name)
            if state is not None:
                await self.send_event("session-state", {"session": state})

    async def on_leave_room(self, content):
        room = content.get("room")
        try:
            realtime.parse_room(room)
        except realtime.InvalidRoom as exc:
            raise WsError("invalid_room", str(exc)) from None
        if room in self.rooms:
            await self._leave(room)
        await self.send_event("room-left", {"room": room})

    async def _leave(self, room: str):
        self.rooms.discard(room)
        await self.channel_layer.group_discard(realtime.room_group(room), self.channel_name)
        kind, ident = realtime.parse_room(room)
        if kind == "session":
            from challenges import sessions

            with contextlib.suppress(Exception):
                await database_sync_to_async(sessions.presence_left)(ident, self.user_id, self.channel_name)

    async def on_challenge_update(self, content):
        challenge_id = content.get("challengeId")
        if not isinstance(challenge_id, str) or not challenge_id:
            raise WsError("invalid_message", "challengeId is required.")
        progress = content.get("progress")
        if isinstance(progress, bool) or not isinstance(progress, int | float) or not 0 <= progress <= 100:
            raise WsError("invalid_progress", "progress must be a number from 0 to 100.")
        data = content.get("data") or {}
        if not isinstance(data, dict):
            raise WsError("invalid_message", "data must be an object.")
        if len(json.dumps(data)) > MAX_DATA_BYTES:
            raise WsError("too_large", f"data larger than {MAX_DATA_BYTES} bytes.")
        session_id = content.get("sessionId")
        if session_id is not None and not isinstance(session_id, str):
            raise WsError("invalid_message", "sessionId must be a string.")
        from challenges import sessions

        try:
            await database_sync_to_async(sessions.record_progress)(
                self.user, challenge_id, progress, data, session_id=session_id
            )
        except sessions.SessionError as exc:
            raise WsError(exc.code, exc.message) from None

    async def on_hint_request(self, content):
        challenge_id = content.get("challengeId")
        if not isinstance(challenge_id, str) or not challenge_id:
            raise WsError("invalid_message", "challengeId is required.")
        from challenges import sessions

        try:
            payload = await database_sync_to_async(sessions.hint_for_socket)(self.user, challenge_id)
        except sessions.SessionError as exc:
            raise WsError(exc.code, exc.message) from None
        await self.send_event("hint", payload)


@database_sync_to_async
def _may_join(user_id: str, kind: str, ident: str) -> bool:
    if kind == "leaderboard":
        return True
    from challenges import sessions

    if kind == "session":
        return sessions.is_participant(ident, user_id)
    return sessions.may_watch_challenge(ident, user_id)
