"""`/socket.io/`: the existing web client's socket, Socket.IO v5 over Engine.IO v4 on Channels.

The same consumer as `/ws/` (it subclasses RealtimeConsumer): the same user group `user.<id>`,
the same rooms, registry commands, presence, limits and event ids, so every process's
publisher reaches both kinds of socket at once. What differs is the wire (frames built and
parsed by `realtime.socketio_protocol` on the python-engineio/python-socketio codecs) and the
way in:

- Transport: WebSocket only (`?EIO=4&transport=websocket`); long-polling is not served (it
  needs the same process on every request of a session; the client tries WebSocket first).
- Heartbeat (Engine.IO v4): the server sends PING every SOCKETIO_PING_INTERVAL seconds and
  closes a socket whose PONG has not come SOCKETIO_PING_TIMEOUT seconds later. A socket that
  has not completed a Socket.IO CONNECT within SOCKETIO_CONNECT_TIMEOUT is closed.
- Authentication happens on the Socket.IO CONNECT packet and never trusts a client's user id:
  `auth.token` (an access JWT, checked like `/ws/`'s) when present; otherwise the HttpOnly
  `socket_ticket` cookie (accounts.socket_ticket), which only counts when the handshake carried
  an allowed Origin (a cookie is ambient: any page can make the browser send it; a foreign
  Origin never gets this far, see realtime.origin). `auth.userId`, when given, must be the
  authenticated user. A refusal is a Socket.IO CONNECT_ERROR `{message, data: {code}}`.
- Events out: every event `/ws/` would get goes out under its own `type` name with the same
  object; `notification` is reshaped for the web client (`message`, `type` in its vocabulary,
  our whole notification beside them), and session events also go out under the web client's
  duel/collaboration names (see CLIENT_EVENTS / `_aliases`).
- Events in: the web client's names (CLIENT_EVENTS) and `/ws/`'s own message types (the
  argument is the message without `type`). An event that cannot be honoured answers with an
  `error` event `{code, message, event}` (and with `{ok: false, error}` when the client asked
  for an acknowledgement); an unknown event is dropped and counted in
  `deepiri_socketio_unknown_events_total`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.conf import settings
from django.http.cookie import parse_cookie

from accounts.socket_ticket import COOKIE_NAME, lifetime_seconds, user_for_ticket
from kernel.api.errors import ErrorCode
from realtime.errors import SocketError

from . import publisher, registry
from . import socketio_protocol as proto
from .auth import authenticate
from .consumers import (
    CLOSE_FLOODING,
    CLOSE_UNAUTHENTICATED,
    MAX_DROPPED,
    MAX_MESSAGE_BYTES,
    RATE_PER_SECOND,
    RealtimeConsumer,
)
from .metrics import count_unknown_socketio_event

logger = logging.getLogger(__name__)

# Our notification types in the web client's vocabulary (it picks a toast icon by `type`;
# anything it does not know gets a bell, so a type without a counterpart keeps its own name).
NOTIFICATION_TYPES = {
    "badge_earned": "badge_earned",
    "level_up": "points_earned",
    "streak_at_risk": "step_reminder",
    "friend_request": "friend_joined",  # the client's only friend toast
}

# Client events the web client emits, and the duel names it listens for (accepted as the same
# requests) -> what they do here.
CLIENT_EVENTS = {
    "join_user_room": "on_join_user_room",
    "collaboration:join": "on_session_join",
    "collaboration:leave": "on_session_leave",
    "collaboration:update": "on_session_update",
    "duel:accept": "on_session_join",
    "duel:start": "on_session_join",
    "duel:progress": "on_session_update",
    "duel:update": "on_session_update",
    "duel:challenge": "on_duel_invite",
    "duel:invite": "on_duel_invite",
    "duel:reject": "on_unsupported",
    "duel:end": "on_unsupported",
}
# `/ws/` message types a Socket.IO client may also emit (argument = the message minus `type`).
WS_TYPES = ("ping", "join-room", "leave-room")

UNSUPPORTED = {
    "duel:reject": "Declining is not part of multiplayer sessions; just do not join it.",
    "duel:end": "A session ends when every participant finishes or its time runs out.",
}


class SocketIOConsumer(RealtimeConsumer):
    sio_sid: str | None = None

    # ------------------------------------------------------------------ Engine.IO lifecycle
    async def connect(self):
        self._init_socket_state()
        self.sio_sid = None
        self._pong = asyncio.Event()
        self._engine_task: asyncio.Task | None = None
        self._session_challenges: dict[str, str] = {}
        self._ack: int | None = None
        self._event_name: str | None = None
        self._replied = False
        query = parse_qs(self.scope.get("query_string", b"").decode("latin1"))
        if query.get("EIO") != ["4"] or query.get("transport") != ["websocket"] or "sid" in query:
            await self.close()  # before accept: the handshake is refused (HTTP 403)
            return
        await self.accept()
        self.ping_interval = float(settings.SOCKETIO_PING_INTERVAL)
        self.ping_timeout = float(settings.SOCKETIO_PING_TIMEOUT)
        await self.send(
            text_data=proto.open_frame(
                secrets.token_urlsafe(15),
                ping_interval=self.ping_interval,
                ping_timeout=self.ping_timeout,
                max_payload=MAX_MESSAGE_BYTES,
            )
        )
        self._engine_task = asyncio.ensure_future(self._engine_heartbeat())

    async def _engine_heartbeat(self):
        """Ping, wait for the pong; and close a socket that never completes a Socket.IO CONNECT."""
        opened = time.monotonic()
        connect_timeout = float(settings.SOCKETIO_CONNECT_TIMEOUT)
        try:
            while True:
                await asyncio.sleep(self.ping_interval)
                if self.sio_sid is None and time.monotonic() - opened > connect_timeout:
                    await self._close_engine()
                    return
                self._pong.clear()
                await self.send(text_data=proto.ping_frame())
                try:
                    await asyncio.wait_for(self._pong.wait(), self.ping_timeout)
                except TimeoutError:
                    logger.info("socket.io: no pong within %ss, closing", self.ping_timeout)
                    await self.close()
                    return
        except asyncio.CancelledError:
            raise
        except Exception:  # the socket went away under us
            logger.debug("socket.io: heartbeat stopped", exc_info=True)

    async def _close_engine(self):
        try:
            await self.send(text_data=proto.close_frame())
        finally:
            await self.close()

    async def disconnect(self, code):
        task, self._engine_task = getattr(self, "_engine_task", None), None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        await super().disconnect(code)

    # ------------------------------------------------------------------ frames in
    async def websocket_receive(self, message):
        # Every frame counts against the socket's bucket (a legitimate client sends a pong per
        # ping interval and a few events); a socket that keeps flooding is closed.
        if not self._take_token():
            self._dropped += 1
            if self._dropped > MAX_DROPPED:
                await self.close(code=CLOSE_FLOODING)
                return
            await self._error(ErrorCode.RATE_LIMITED, f"Too many messages (limit {RATE_PER_SECOND:g}/s).")
            return
        text = message.get("text")
        if text is None:
            await self._error(SocketError.UNSUPPORTED, "Binary frames are not supported.")
            return
        if len(text) > MAX_MESSAGE_BYTES or len(text.encode()) > MAX_MESSAGE_BYTES:
            await self._error(ErrorCode.TOO_LARGE, f"Packet larger than {MAX_MESSAGE_BYTES} bytes.")
            return
        try:
            inbound = proto.decode(text)
        except proto.LimitError as exc:
            await self._error(exc.code, str(exc))
            return
        except proto.ProtocolError as exc:
            await self._error(SocketError.INVALID_MESSAGE, str(exc)[:200])
            return
        kind = inbound.kind
        if kind == "pong":
            self._pong.set()
        elif kind == "ping":  # Engine.IO v3 clients ping; answer rather than fail
            await self.send(text_data=proto.pong_frame(inbound.data))
        elif kind in ("close", "disconnect"):
            await self.close()
        elif kind == "connect":
            await self._sio_connect(inbound)
        elif kind == "event":
            await self._sio_event(inbound)
        # noop, upgrade, and acks (this server never asks for one): nothing to do

    # ------------------------------------------------------------------ Socket.IO CONNECT
    async def _refuse(self, code: str, message: str, namespace: str = proto.DEFAULT_NAMESPACE):
        await self.send(text_data=proto.connect_error_frame(message, {"code": code}, namespace))

    async def _sio_connect(self, inbound: proto.Inbound):
        if inbound.namespace != proto.DEFAULT_NAMESPACE:
            await self._refuse("invalid_namespace", "Invalid namespace", inbound.namespace)
            return
        if self.sio_sid is not None:
            return  # already connected on this socket
        auth = inbound.data if isinstance(inbound.data, dict) else {}
        token = auth.get("token")
        claimed = auth.get("userId")
        try:
            if isinstance(token, str) and token:
                user, exp = await authenticate(token)
                if user is None:
                    await self._refuse("unauthorized", "Invalid or expired token.")
                    return
            else:
                if not self.scope.get("origin_allowed"):
                    # Without a token the only credential is the cookie, which the browser
                    # attaches for any page: only a page of ours may use it.
                    await self._refuse("origin_required", "Cookie authentication needs an allowed Origin.")
                    return
                user = await _user_for_ticket(self._cookie(_ticket_cookie_name()))
                if user is None:
                    await self._refuse("unauthorized", "Sign in first (no valid token or session cookie).")
                    return
                exp = time.time() + _ticket_lifetime()
        except Exception:  # the database is down
            logger.exception("socket.io: could not authenticate")
            await self._refuse("unavailable", "Authentication is unavailable; try again later.")
            return
        if claimed is not None and str(claimed) != str(user.pk):
            await self._refuse("user_mismatch", "userId does not match the authenticated user.")
            return
        if not await self._join_user(user, exp):
            await self._refuse("unavailable", "The realtime service is unavailable; try again later.")
            return
        self.sio_sid = secrets.token_urlsafe(15)
        await self.send(text_data=proto.connect_frame(self.sio_sid))
        await self._track()
        # The first thing the original server said; some clients wait for it.
        await self._emit(
            "connection_confirmed",
            {
                "socketId": self.sio_sid,
                "userId": self.user_id,
                "timestamp": publisher.now_ts(),
                "serverStatus": "connected",
            },
        )
        await self.send_event("connected", {"user_id": self.user_id})

    def _cookie(self, name: str) -> str | None:
        for header, value in self.scope.get("headers", []):
            if header == b"cookie":
                found = parse_cookie(value.decode("latin1")).get(name)
                if found:
                    return found
        return None

    # ------------------------------------------------------------------ Socket.IO events in
    async def _sio_event(self, inbound: proto.Inbound):
        if self.sio_sid is None or inbound.namespace != proto.DEFAULT_NAMESPACE:
            return  # events before CONNECT (or for another namespace) are not delivered
        if self.token_exp and time.time() >= self.token_exp:
            # Closed without a Socket.IO DISCONNECT: a client told "io server disconnect" would
            # not reconnect, while after a transport close it reconnects with its current
            # credential (a refreshed cookie ticket) or hears why it cannot.
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        name = inbound.name or ""
        arg = inbound.args[0] if inbound.args else None
        self._ack, self._event_name, self._replied = inbound.id, name[:60], False
        try:
            handler = CLIENT_EVENTS.get(name)
            if handler is not None:
                await getattr(self, handler)(name, arg)
            elif name in WS_TYPES or registry.command(name) is not None:
                content = dict(arg) if isinstance(arg, dict) else {}
                content["type"] = name
                await self.receive_json(content)
            else:
                await count_unknown_socketio_event(name)
                return
            if self._ack is not None and not self._replied:
                await self._send_ack({"ok": True})
        except registry.CommandError as exc:
            await self.send_error(exc.code, exc.message)
        except Exception:
            logger.exception("socket.io: handler for %s failed", name[:60])
            await self.send_error(SocketError.SERVER_ERROR, "Something went wrong handling that event.")
        finally:
            self._ack, self._event_name = None, None

    async def _send_ack(self, payload: dict):
        if self._ack is not None:
            ack, self._ack = self._ack, None
            self._replied = True
            await self.send(text_data=proto.ack_frame(ack, payload))

    async def on_join_user_room(self, name, arg):
        """The client asks for its own user room by id; it is already in it (joined on CONNECT),
        so this confirms, and refuses someone else's id."""
        claimed = arg.get("userId") if isinstance(arg, dict) else arg
        if claimed is not None and str(claimed) != self.user_id:
            raise registry.CommandError(SocketError.FORBIDDEN, "You may only join your own user room.")
        room = f"user_{self.user_id}"
        await self._send_ack({"ok": True, "room": room})
        await self._emit("room_joined", {"room": room, "type": "user"})

    def _session_id(self, arg) -> str:
        if isinstance(arg, dict):
            for key in ("sessionId", "roomId", "duelId", "id"):
                if isinstance(arg.get(key), str) and arg[key]:
                    return arg[key]
        if isinstance(arg, str) and arg:
            return arg
        raise registry.CommandError(SocketError.INVALID_MESSAGE, "Name the session: {roomId} or {duelId}.")

    async def on_session_join(self, name, arg):
        """collaboration:join / duel:accept|start: join the multiplayer session's room."""
        await self.on_join_room({"room": f"session:{self._session_id(arg)}"})

    async def on_session_leave(self, name, arg):
        await self.on_leave_room({"room": f"session:{self._session_id(arg)}"})

    async def on_session_update(self, name, arg):
        """collaboration:update {roomId, update: {progress, data}} / duel:progress|update
        {duelId, progress}: the session's `challenge-update` (joined sessions only)."""
        session_id = self._session_id(arg)
        update = arg.get("update") if isinstance(arg, dict) and isinstance(arg.get("update"), dict) else arg
        progress = update.get("progress") if isinstance(update, dict) else None
        if progress is None:
            raise registry.CommandError(
                SocketError.UNSUPPORTED, "Only progress updates are shared in a session: send {progress: 0..100}."
            )
        challenge_id = self._session_challenges.get(session_id)
        if challenge_id is None or f"session:{session_id}" not in self.rooms:
            raise registry.CommandError(SocketError.NOT_JOINED, "Join the session first.")
        command = registry.command("challenge-update")
        if command is None:
            raise registry.CommandError(SocketError.UNSUPPORTED, "Sessions are not available.")
        data = update.get("data") if isinstance(update.get("data"), dict) else {}
        content = {"type": "challenge-update", "challengeId": challenge_id, "sessionId": session_id}
        content.update(progress=progress, data=data)
        await self.receive_json(content)

    async def on_duel_invite(self, name, arg):
        """duel:challenge {targetUserId, challengeConfig: {challengeId}}: create a session with
        the challenge and invite them (the invitee gets `duel:invite` with its notification)."""
        if registry.command("session-create") is None:
            raise registry.CommandError(SocketError.UNSUPPORTED, "Sessions are not available.")
        content = dict(arg) if isinstance(arg, dict) else {}
        content["type"] = "session-create"
        await self.receive_json(content)

    async def on_unsupported(self, name, arg):
        raise registry.CommandError(SocketError.UNSUPPORTED, UNSUPPORTED.get(name, "Not supported."))

    # ------------------------------------------------------------------ frames out
    async def _emit(self, name: str, payload):
        await self.send(text_data=proto.event_frame(name, payload))

    async def _error(self, code: str, message: str):
        """A protocol-level problem: an `error` event when connected (ids come with it), else
        nothing to say it with."""
        if self.sio_sid is not None:
            await self.send_error(code, message)

    async def send_json(self, content, close=False):
        """Every event the shared consumer sends passes here: re-shape it for Socket.IO."""
        event_type = content.get("type")
        if event_type == "error" and self._ack is not None:
            await self._send_ack(
                {"ok": False, "error": {"code": content.get("code"), "message": content.get("message")}}
            )
        if event_type == "error" and self._event_name:
            content = {**content, "event": self._event_name}
        if event_type == "notification":
            await self._emit("notification", _web_notification(content))
        else:
            await self._emit(event_type, content)
        for alias, payload in self._aliases(event_type, content):
            await self._emit(alias, payload)
        if close:
            await self.close()

    def _aliases(self, event_type: str, event: dict):
        """The same event under the web client's multiplayer names."""
        if event_type == "notification" and (event.get("notification") or {}).get("type") == "session_invite":
            data = event["notification"].get("data") or {}
            yield (
                "duel:invite",
                {
                    "id": data.get("sessionId"),
                    "duelId": data.get("sessionId"),
                    "fromUserId": data.get("fromUserId"),
                    "fromUserName": data.get("fromName") or "Unknown",
                    "challengeConfig": {"challengeId": data.get("challengeId")},
                    "timestamp": event.get("ts"),
                },
            )
        elif event_type == "session-state":
            session = event.get("session") or {}
            if session.get("id") and session.get("challengeId"):
                self._session_challenges[str(session["id"])] = str(session["challengeId"])
            yield (
                "duel:start",
                {
                    "id": session.get("id"),
                    "duelId": session.get("id"),
                    "participants": [
                        {"userId": p.get("userId"), "progress": p.get("progress", 0)}
                        for p in session.get("participants") or []
                    ],
                    "challengeName": "Duel",
                    "startTime": session.get("startedAt"),
                    "endTime": session.get("endsAt"),
                    "session": session,
                },
            )
        elif event_type == "progress-update" and event.get("sessionId"):
            yield (
                "duel:update",
                {"duelId": event["sessionId"], "userId": event.get("userId"), "progress": event.get("progress")},
            )
            yield "collaboration:state", {"roomId": event["sessionId"], "update": event}
        elif event_type == "session-ended":
            session = event.get("session") or {}
            yield "duel:end", {"duelId": session.get("id"), "session": session}
        elif event_type == "presence":
            name = "collaborator:joined" if event.get("status") == "joined" else "collaborator:left"
            yield (
                name,
                {
                    "roomId": event.get("sessionId"),
                    "userId": event.get("userId"),
                    "name": event.get("name"),
                    "online": event.get("online"),
                },
            )


def _web_notification(event: dict) -> dict:
    notification = event.get("notification") or {}
    own_type = notification.get("type")
    return {
        "message": notification.get("message") or notification.get("title") or "",
        "type": NOTIFICATION_TYPES.get(own_type, own_type),
        "title": notification.get("title"),
        "priority": notification.get("priority"),
        "id": event.get("id"),
        "ts": event.get("ts"),
        "notification": notification,
    }


def _ticket_cookie_name() -> str:
    return COOKIE_NAME


def _ticket_lifetime() -> int:
    return lifetime_seconds()


@database_sync_to_async
def _user_for_ticket(raw: str | None):
    return user_for_ticket(raw)
