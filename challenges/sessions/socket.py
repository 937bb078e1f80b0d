"""What sessions and challenges plug into the socket (realtime.registry), registered by
challenges.handlers.register():

- rooms `challenge:<id>` (its owner, or a participant of one of its sessions) and
  `session:<id>` (participants; joining announces presence and answers with `session-state`);
- commands `challenge-update` (progress, broadcast to the room), `hint-request`, and
  `session-create` (`POST /api/challenges/{id}/sessions` on the socket; the web client's
  `duel:challenge`).
"""

from __future__ import annotations

import json

from rest_framework.exceptions import APIException

from challenges import services as challenge_services
from challenges.errors import ChallengeSocketError
from challenges.models import Challenge
from kernel.api.errors import ErrorCode
from kernel.ids import is_valid_id
from realtime import registry
from realtime.errors import SocketError
from realtime.registry import CommandError

from . import services

MAX_DATA_BYTES = 4 * 1024


def challenge_update(user, content: dict):
    challenge_id = content.get("challengeId")
    if not isinstance(challenge_id, str) or not challenge_id:
        raise CommandError(SocketError.INVALID_MESSAGE, "challengeId is required.")
    progress = content.get("progress")
    if isinstance(progress, bool) or not isinstance(progress, int | float) or not 0 <= progress <= 100:
        raise CommandError(ChallengeSocketError.INVALID_PROGRESS, "progress must be a number from 0 to 100.")
    data = content.get("data") or {}
    if not isinstance(data, dict):
        raise CommandError(SocketError.INVALID_MESSAGE, "data must be an object.")
    if len(json.dumps(data)) > MAX_DATA_BYTES:
        raise CommandError(ErrorCode.TOO_LARGE, f"data larger than {MAX_DATA_BYTES} bytes.")
    session_id = content.get("sessionId")
    if session_id is not None and not isinstance(session_id, str):
        raise CommandError(SocketError.INVALID_MESSAGE, "sessionId must be a string.")
    services.record_progress(user, challenge_id, progress, data, session_id=session_id)
    return None


def hint_request(user, content: dict):
    """The same service as `POST /api/challenges/{id}/hint`."""
    challenge_id = content.get("challengeId")
    if not isinstance(challenge_id, str) or not challenge_id:
        raise CommandError(SocketError.INVALID_MESSAGE, "challengeId is required.")
    if not is_valid_id(challenge_id):
        raise CommandError(ErrorCode.NOT_FOUND, "Challenge not found.")
    challenge = Challenge.objects.filter(pk=challenge_id, user=user).first()
    if challenge is None:
        raise CommandError(ErrorCode.NOT_FOUND, "Challenge not found.")
    try:
        payload = challenge_services.take_hint(user, challenge)
    except APIException as exc:  # the service's own 4xx (no hints left, not playable) -> socket error
        raise CommandError(
            exc.get_codes() if isinstance(exc.get_codes(), str) else ErrorCode.INVALID, str(exc.detail)
        ) from None
    return "hint", payload


def _first_error(detail) -> str:
    if isinstance(detail, dict):
        detail = next(iter(detail.values()), "")
    if isinstance(detail, list):
        detail = detail[0] if detail else ""
    return str(detail)


def session_create(user, content: dict):
    """`{challengeId, inviteUserIds[]}` (or the web client's `{targetUserId, challengeConfig:
    {challengeId}}`): the same service and checks as the REST create."""
    config = content.get("challengeConfig") if isinstance(content.get("challengeConfig"), dict) else {}
    challenge_id = content.get("challengeId") or config.get("challengeId")
    if not isinstance(challenge_id, str) or not is_valid_id(challenge_id):
        raise CommandError(SocketError.INVALID_MESSAGE, "challengeId (one of your challenges) is required.")
    invites = content.get("inviteUserIds")
    if invites is None and content.get("targetUserId") is not None:
        invites = [content["targetUserId"]]
    challenge = Challenge.objects.filter(pk=challenge_id, user=user).first()
    if challenge is None:
        raise CommandError(ErrorCode.NOT_FOUND, "Challenge not found.")
    try:
        session = services.create_session(user, challenge, invites)
    except APIException as exc:
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else SocketError.INVALID_MESSAGE
        raise CommandError(code, _first_error(exc.detail)) from None
    return "session-created", {"session": services.ws_payload(session)}


# The `challenge:<id>` and `session:<id>` rooms (registered by challenges.handlers).
def may_watch_challenge(user_id: str, challenge_id: str) -> bool:
    return services.may_watch_challenge(challenge_id, user_id)


def may_join_session(user_id: str, session_id: str) -> bool:
    return services.is_participant(session_id, user_id)


def session_joined(user_id: str, session_id: str, channel_name: str):
    state = services.presence_joined(session_id, user_id, channel_name)
    return [] if state is None else [("session-state", {"session": state})]


def session_left(user_id: str, session_id: str, channel_name: str) -> None:
    services.presence_left(session_id, user_id, channel_name)


def session_heartbeat(user_id: str, session_id: str, channel_name: str) -> None:
    services.presence_refresh(session_id, user_id, channel_name)


CHALLENGE_ROOM = registry.RoomKind("challenge", may_join=may_watch_challenge)
SESSION_ROOM = registry.RoomKind(
    "session", may_join=may_join_session, on_join=session_joined, on_leave=session_left, on_heartbeat=session_heartbeat
)
COMMANDS = {"challenge-update": challenge_update, "hint-request": hint_request, "session-create": session_create}
