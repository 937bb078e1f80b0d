"""Multiplayer challenge sessions: create, presence, progress, the first finisher's bonus, the end.

A host invites users to play one of their challenges together. Everyone in the session room
(`session:<id>`) sees each other's presence (joined/left) and progress. The first to reach 100
earns a bonus through the gamification ledger; the session ends when everyone has finished
or its time runs out, and the result is stored in SQL.

Live state is in Redis, not in a daphne process, so a client that reconnects (or a daphne
that restarts) continues where the session was:

    <prefix>:sess:<id>            hash: status, ends_at (epoch), n (participants),
                                  p:<user> progress, f:<user> finished-at (ISO), first, bonus
    <prefix>:sess:<id>:presence   sorted set "<user>|<channel>" -> expiry (refreshed by the
                                  socket heartbeat, so a crashed process's sockets fall out)
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.exceptions import NotFound, Throttled, ValidationError

from accounts.selectors import friends_of
from challenges import services as challenge_services  # by module: it imports this module (a cycle in the app)
from challenges.errors import ChallengeSocketError
from gamification.services import award
from kernel.api.errors import ErrorCode
from kernel.api.exceptions import Conflict
from kernel.api.times import iso_utc
from kernel.ids import is_valid_id
from kernel.redis import get_redis, key
from notifications.models import NotificationType, Priority
from notifications.services import notify
from realtime import publisher
from realtime.registry import CommandError

from ..models import Challenge
from .models import ChallengeSession, ChallengeSessionParticipant, SessionStatus

logger = logging.getLogger(__name__)

MAX_INVITES = 10
DEFAULT_MINUTES = 30
MIN_BONUS = 10
BONUS_SHARE = 0.25  # of the challenge's points reward
PRESENCE_TTL = 90
ENDED_STATE_TTL = 3600
CLOSED_CHALLENGE_STATUSES = ("completed", "failed", "expired", "generating")


class SessionError(CommandError):
    """A socket-level refusal: `code` goes into the `error` event."""


def state_key(session_id: str) -> str:
    return key("sess", session_id)


def presence_key(session_id: str) -> str:
    return key("sess", session_id, "presence")


def _epoch(dt: datetime) -> float:
    return dt.timestamp()


def bonus_for(challenge: Challenge) -> int:
    return max(MIN_BONUS, round(challenge.points_reward * BONUS_SHARE))


# ------------------------------------------------------------------------------ reads
def get_session_for_user(user, session_id: str) -> ChallengeSession:
    """The session if `user` takes part in it; 404 otherwise (another user's object is a 404)."""
    if not is_valid_id(session_id):
        raise NotFound("Session not found.")
    session = (
        ChallengeSession.objects.filter(pk=session_id, participants__user=user).select_related("challenge").first()
    )
    if session is None:
        raise NotFound("Session not found.")
    return session


def is_participant(session_id: str, user_id: str) -> bool:
    return (
        is_valid_id(session_id)
        and ChallengeSessionParticipant.objects.filter(session_id=session_id, user_id=user_id).exists()
    )


def may_watch_challenge(challenge_id: str, user_id: str) -> bool:
    """A challenge room: its owner, or a participant of one of its sessions."""
    if not is_valid_id(challenge_id):
        return False
    return (
        Challenge.objects.filter(pk=challenge_id, user_id=user_id).exists()
        or ChallengeSessionParticipant.objects.filter(session__challenge_id=challenge_id, user_id=user_id).exists()
    )


def live_state(session: ChallengeSession) -> dict:
    """The Redis hash; rebuilt from SQL if Redis lost it while the session is active."""
    r = get_redis()
    state = r.hgetall(state_key(session.pk))
    if not state:
        state = _init_state(session)
    return state


def online_user_ids(session_id: str) -> set[str]:
    members = get_redis().zrangebyscore(presence_key(session_id), time.time(), "+inf")
    return {m.split("|", 1)[0] for m in members}


def session_payload(session: ChallengeSession, participants=None, state: dict | None = None) -> dict:
    """API.md session: {_id, id, challengeId, room, participants[{userId, name, progress, finishedAt}], status}."""
    if participants is None:
        participants = list(session.participants.select_related("user"))
    active = session.status == SessionStatus.ACTIVE
    if active and state is None:
        state = live_state(session)
    online = online_user_ids(session.pk) if active else set()
    rows = []
    for p in participants:
        uid = str(p.user_id)
        if active:
            progress = int(state.get(f"p:{uid}", 0))
            finished_at = state.get(f"f:{uid}")
            bonus = int(state.get("bonus", 0)) if state.get("first") == uid else 0
        else:
            progress = p.progress
            finished_at = iso_utc(p.finished_at)
            bonus = p.bonus_points
        rows.append(
            {
                "user_id": uid,
                "name": p.user.name,
                "progress": progress,
                "finished_at": finished_at,
                "online": uid in online,
                "rank": p.rank,
                "bonus_points": bonus,
                "host": uid == str(session.host_id),
            }
        )
    return {
        "_id": session.pk,
        "id": session.pk,
        "challenge_id": session.challenge_id,
        "room": session.room,
        "status": session.status,
        "started_at": session.started_at,
        "ends_at": session.ends_at,
        "ended_at": session.ended_at,
        "winner_id": session.winner_id,
        "first_finisher_bonus": session.first_finisher_bonus,
        "participants": rows,
    }


def ws_payload(session: ChallengeSession) -> dict:
    """session_payload with datetimes as ISO strings (the channel layer carries plain JSON)."""
    out = session_payload(session)
    for name in ("started_at", "ends_at", "ended_at"):
        if out[name] is not None:
            out[name] = iso_utc(out[name])
    return out


# ------------------------------------------------------------------------------ create
def _validate_invites(host, invite_user_ids) -> list:
    if not isinstance(invite_user_ids, list) or not invite_user_ids:
        raise ValidationError({"invite_user_ids": ["A non-empty list of user ids is required."]})
    if len(invite_user_ids) > MAX_INVITES:
        raise ValidationError({"invite_user_ids": [f"At most {MAX_INVITES} users may be invited."]})
    ids = []
    for value in invite_user_ids:
        if not isinstance(value, str) or not is_valid_id(value):
            raise ValidationError({"invite_user_ids": [f"{str(value)[:40]!r} is not a valid user id."]})
        if value == str(host.pk):
            raise ValidationError({"invite_user_ids": ["You cannot invite yourself."]})
        if value not in ids:
            ids.append(value)
    users = {str(u.pk): u for u in get_user_model().objects.filter(pk__in=ids, is_active=True)}
    missing = [i for i in ids if i not in users]
    if missing:
        raise ValidationError({"invite_user_ids": [f"Unknown user(s): {', '.join(missing)}."]})
    # Invitations notify (and email) their addressee: only people who accepted a friendship with
    # the host may be sent one, so a stranger cannot be spammed through sessions.
    friends = {str(pk) for pk in friends_of(host).filter(pk__in=ids).values_list("pk", flat=True)}
    strangers = [i for i in ids if i not in friends]
    if strangers:
        raise ValidationError(
            {"invite_user_ids": [f"You can invite only your friends; not a friend: {', '.join(strangers)}."]}
        )
    return [users[i] for i in ids]


def _invite_window() -> tuple[int, int]:
    return (
        int(settings.CHALLENGE_SESSION_INVITES_PER_HOUR),
        3600,
    )


def _take_invite_budget(host, count: int) -> None:
    """At most CHALLENGE_SESSION_INVITES_PER_HOUR invitations per host and hour (fixed window in
    Redis); beyond it a 429 with Retry-After."""
    limit, window = _invite_window()
    now = int(time.time())
    bucket = key("session-invites", host.pk, now // window)
    r = get_redis()
    pipe = r.pipeline(transaction=False)
    pipe.incrby(bucket, count)
    pipe.expire(bucket, window + 60)
    used = pipe.execute()[0]
    if used > limit:
        r.decrby(bucket, count)  # a refused request does not use the budget up
        raise Throttled(wait=window - now % window, detail=f"At most {limit} session invitations an hour.")


def create_session(host, challenge: Challenge, invite_user_ids) -> ChallengeSession:
    invitees = _validate_invites(host, invite_user_ids)
    if challenge.status in CLOSED_CHALLENGE_STATUSES:
        raise Conflict(f"A {challenge.status} challenge cannot host a session.")
    now = timezone.now()
    minutes = challenge.time_limit or DEFAULT_MINUTES
    try:
        with transaction.atomic():
            Challenge.objects.select_for_update().filter(pk=challenge.pk).first()
            if ChallengeSession.objects.filter(challenge=challenge, status=SessionStatus.ACTIVE).exists():
                raise Conflict("This challenge already has an active session.")
            _take_invite_budget(host, len(invitees))
            session = ChallengeSession.objects.create(
                challenge=challenge,
                host=host,
                started_at=now,
                ends_at=now + timedelta(minutes=minutes),
                first_finisher_bonus=bonus_for(challenge),
            )
            ChallengeSessionParticipant.objects.bulk_create(
                [ChallengeSessionParticipant(session=session, user=host)]
                + [ChallengeSessionParticipant(session=session, user=u, invited_by=host) for u in invitees]
            )
            transaction.on_commit(lambda: _init_state(session))
            for invitee in invitees:
                notify(
                    invitee,
                    NotificationType.SESSION_INVITE,
                    f"{host.name} invited you to a challenge",
                    f"Join \u201c{challenge.title}\u201d: it ends in {minutes} minutes.",
                    data={
                        "session_id": session.pk,
                        "challenge_id": challenge.pk,
                        "room": session.room,
                        "from_user_id": str(host.pk),
                        "from_name": host.name,
                    },
                    priority=Priority.HIGH,
                    dedupe_key=f"session-invite:{session.pk}",
                )
    except IntegrityError:
        raise Conflict("This challenge already has an active session.") from None
    return session


def _init_state(session: ChallengeSession) -> dict:
    participants = list(session.participants.values_list("user_id", "progress", "finished_at"))
    state = {"status": session.status, "ends_at": str(_epoch(session.ends_at)), "n": str(len(participants))}
    for uid, progress, finished_at in participants:
        state[f"p:{uid}"] = str(progress)
        if finished_at:
            state[f"f:{uid}"] = iso_utc(finished_at)
    if session.winner_id:
        state["first"] = str(session.winner_id)
        state["bonus"] = str(session.first_finisher_bonus)
    r = get_redis()
    pipe = r.pipeline(transaction=True)
    pipe.hset(state_key(session.pk), mapping=state)
    pipe.expireat(state_key(session.pk), int(_epoch(session.ends_at)) + 24 * 3600)
    pipe.execute()
    return state


# ------------------------------------------------------------------------------ presence
def _presence_broadcast(session_id: str, user_id: str, status: str) -> None:
    name = get_user_model().objects.filter(pk=user_id).values_list("name", flat=True).first() or ""
    publisher.send_to_room_now(
        f"session:{session_id}",
        "presence",
        {
            "session_id": session_id,
            "user_id": user_id,
            "name": name,
            "status": status,
            "online": sorted(online_user_ids(session_id)),
        },
    )


def presence_joined(session_id: str, user_id: str, channel_name: str = "") -> dict | None:
    """A socket of `user_id` joined the room: announce them if it is their first. Returns the
    session state for the joiner (so a reconnecting client continues where it was)."""
    session = ChallengeSession.objects.filter(pk=session_id).first()
    if session is None:
        return None
    _maybe_expire(session)
    if session.status == SessionStatus.ACTIVE:
        was_online = user_id in online_user_ids(session_id)
        r = get_redis()
        pipe = r.pipeline(transaction=False)
        pipe.zadd(presence_key(session_id), {f"{user_id}|{channel_name}": time.time() + PRESENCE_TTL})
        pipe.expireat(presence_key(session_id), int(_epoch(session.ends_at)) + 3600)
        pipe.execute()
        if not was_online:
            _presence_broadcast(session_id, user_id, "joined")
    return ws_payload(session)


def presence_refresh(session_id: str, user_id: str, channel_name: str) -> None:
    get_redis().zadd(presence_key(session_id), {f"{user_id}|{channel_name}": time.time() + PRESENCE_TTL}, xx=True)


def presence_left(session_id: str, user_id: str, channel_name: str = "") -> None:
    r = get_redis()
    r.zrem(presence_key(session_id), f"{user_id}|{channel_name}")
    r.zremrangebyscore(presence_key(session_id), "-inf", time.time())
    if user_id not in online_user_ids(session_id):
        _presence_broadcast(session_id, user_id, "left")


# ------------------------------------------------------------------------------ progress
def _active_session_for(user, challenge_id: str, session_id: str | None) -> ChallengeSession | None:
    qs = ChallengeSession.objects.filter(challenge_id=challenge_id, participants__user=user)
    if session_id is not None:
        if not is_valid_id(session_id):
            raise SessionError(ErrorCode.NOT_FOUND, "Session not found.")
        session = qs.filter(pk=session_id).first()
        if session is None:
            raise SessionError(ErrorCode.NOT_FOUND, "Session not found.")
        return session
    return qs.filter(status=SessionStatus.ACTIVE).first()


def record_progress(user, challenge_id: str, progress, data: dict, *, session_id: str | None = None) -> dict:
    """`challenge-update` from the socket: validated progress, broadcast to the room."""
    if isinstance(progress, bool) or not isinstance(progress, int | float) or not 0 <= progress <= 100:
        raise SessionError(ChallengeSocketError.INVALID_PROGRESS, "progress must be a number from 0 to 100.")
    progress = int(round(progress))
    if not is_valid_id(challenge_id):
        raise SessionError(ErrorCode.NOT_FOUND, "Challenge not found.")
    session = _active_session_for(user, challenge_id, session_id)
    uid = str(user.pk)
    if session is None:
        if not Challenge.objects.filter(pk=challenge_id, user=user).exists():
            raise SessionError(ErrorCode.NOT_FOUND, "Challenge not found.")
        payload = {"challenge_id": challenge_id, "user_id": uid, "progress": progress, "data": data}
        publisher.send_to_room_now(f"challenge:{challenge_id}", "progress-update", payload)
        return payload
    _maybe_expire(session)
    if session.status != SessionStatus.ACTIVE:
        raise SessionError(ChallengeSocketError.SESSION_ENDED, "This session has ended.")
    r = get_redis()
    if r.hexists(state_key(session.pk), f"f:{uid}"):
        raise SessionError(ChallengeSocketError.ALREADY_FINISHED, "You already finished this session.")
    if not r.exists(state_key(session.pk)):
        _init_state(session)
    # The socket reports progress; it cannot finish anyone. A client-sent 100 is shown as 99 until
    # the server checks the completion (complete_in_session / the challenge's own completion),
    # which alone can earn the first finisher's bonus.
    progress = min(progress, 99)
    r.hset(state_key(session.pk), f"p:{uid}", progress)
    payload = {
        "challenge_id": challenge_id,
        "session_id": session.pk,
        "user_id": uid,
        "progress": progress,
        "data": data,
    }
    publisher.send_to_room_now(session.room, "progress-update", payload)
    return payload


def _min_finish_seconds() -> int:
    return int(settings.CHALLENGE_SESSION_MIN_FINISH_SECONDS)


def complete_in_session(user, session: ChallengeSession) -> dict:
    """A participant finishes, checked by the server: the session is active and not over, the
    participant has not finished yet, and at least CHALLENGE_SESSION_MIN_FINISH_SECONDS have
    passed since the start. The challenge's owner also completes the challenge itself through
    challenges.services.complete_challenge (its state, expiry and once-only rules)."""
    _maybe_expire(session)
    if session.status != SessionStatus.ACTIVE:
        raise Conflict("This session has ended.")
    uid = str(user.pk)
    if get_redis().hexists(state_key(session.pk), f"f:{uid}"):
        raise Conflict("You already finished this session.")
    elapsed = (timezone.now() - session.started_at).total_seconds()
    if elapsed < _min_finish_seconds():
        raise Conflict(f"Too early to finish: a session runs at least {_min_finish_seconds()} seconds.")
    if session.challenge.user_id == user.pk:
        challenge_services.complete_challenge(user, session.challenge)  # emits challenge.completed -> on_challenge_completed
    else:
        _finish(session, user)
    session.refresh_from_db()
    return session_payload(session, state=live_state(session))


def finish_on_completion(user, challenge) -> None:
    """After the owner's server-checked completion of the session's challenge commits: they
    finish the active session on it (and may be its first finisher)."""
    session = (
        ChallengeSession.objects.filter(challenge=challenge, status=SessionStatus.ACTIVE, participants__user=user)
        .select_related("challenge")
        .first()
    )
    if session is None:
        return
    if not get_redis().exists(state_key(session.pk)):
        _init_state(session)
    _finish(session, user)


def _finish(session: ChallengeSession, user) -> None:
    r = get_redis()
    uid = str(user.pk)
    finished_at = publisher.now_ts()
    if not r.hsetnx(state_key(session.pk), f"f:{uid}", finished_at):
        return
    r.hset(state_key(session.pk), f"p:{uid}", 100)
    # No bonus for finishing before the minimum time (a challenge completed the moment its
    # session opens is farming, not a race).
    in_time = (timezone.now() - session.started_at).total_seconds() >= _min_finish_seconds()
    if in_time and r.hsetnx(state_key(session.pk), "first", uid):
        r.hset(state_key(session.pk), "bonus", session.first_finisher_bonus)

        award(
            user,
            points=session.first_finisher_bonus,
            xp=session.first_finisher_bonus,
            reason="First to finish a multiplayer session",
            source="challenge",
            source_id=session.pk,
            idempotency_key=f"session:{session.pk}:first",
        )
        ChallengeSession.objects.filter(pk=session.pk, winner__isnull=True).update(winner=user)
        session.winner = user
    state = r.hgetall(state_key(session.pk))
    finished = sum(1 for k in state if k.startswith("f:"))
    if finished >= int(state.get("n", 0) or 0):
        end_session(session, SessionStatus.COMPLETED)
    else:
        publisher.send_to_room_now(session.room, "session-update", {"session": ws_payload(session)})


# ------------------------------------------------------------------------------ end
def _maybe_expire(session: ChallengeSession) -> None:
    if session.status == SessionStatus.ACTIVE and session.ends_at <= timezone.now():
        end_session(session, SessionStatus.EXPIRED)
        session.refresh_from_db()


def _standings(participants, state: dict) -> list[tuple]:
    """(participant, progress, finished_at, rank): finishers by time, then by progress."""
    rows = []
    for p in participants:
        uid = str(p.user_id)
        finished = state.get(f"f:{uid}")
        rows.append((p, int(state.get(f"p:{uid}", p.progress) or 0), finished))
    rows.sort(key=lambda row: (row[2] is None, row[2] or "", -row[1]))
    return [(p, progress, finished, i + 1) for i, (p, progress, finished) in enumerate(rows)]


def end_session(session: ChallengeSession, status: str) -> bool:
    """Store the result in SQL once; broadcast `session-ended`. Returns False if already ended."""
    r = get_redis()
    with transaction.atomic():
        locked = ChallengeSession.objects.select_for_update().filter(pk=session.pk, status=SessionStatus.ACTIVE).first()
        if locked is None:
            return False
        state = r.hgetall(state_key(session.pk)) or _init_state(locked)
        participants = list(locked.participants.select_related("user"))
        first = state.get("first")
        result = []
        for p, progress, finished, rank in _standings(participants, state):
            p.progress = progress
            p.finished_at = datetime.fromisoformat(finished.replace("Z", "+00:00")) if finished else None
            p.rank = rank
            p.bonus_points = locked.first_finisher_bonus if str(p.user_id) == first else 0
            result.append(
                {
                    "user_id": str(p.user_id),
                    "progress": progress,
                    "finished_at": finished,
                    "rank": rank,
                    "bonus_points": p.bonus_points,
                }
            )
        ChallengeSessionParticipant.objects.bulk_update(
            participants, ["progress", "finished_at", "rank", "bonus_points"]
        )
        locked.status = status
        locked.ended_at = timezone.now()
        locked.result = {"standings": result}
        if first and not locked.winner_id:
            locked.winner_id = first
        locked.save(update_fields=["status", "ended_at", "result", "winner", "updated_at"])
        payload = session_payload(locked, participants=participants)
        for p in participants:
            ranked = next(row for row in result if row["user_id"] == str(p.user_id))
            notify(
                p.user,
                NotificationType.SESSION_FINISHED,
                "Multiplayer session finished"
                if status == SessionStatus.COMPLETED
                else "Multiplayer session timed out",
                f"You placed #{ranked['rank']} of {len(result)} in \u201c{locked.challenge.title}\u201d.",
                data={
                    "session_id": locked.pk,
                    "challenge_id": locked.challenge_id,
                    "rank": ranked["rank"],
                    "bonus_points": ranked["bonus_points"],
                },
                priority=Priority.MEDIUM,
                dedupe_key=f"session-finished:{locked.pk}",
            )
    r.hset(state_key(session.pk), "status", status)
    r.expire(state_key(session.pk), ENDED_STATE_TTL)
    for name in ("started_at", "ends_at", "ended_at"):
        if payload[name] is not None:
            payload[name] = iso_utc(payload[name])
    publisher.publish_to_room(session.room, "session-ended", {"session": payload})
    session.status = status
    return True


def expire_due_sessions(now: datetime | None = None) -> int:
    """Beat job: end every active session whose time ran out."""
    now = now or timezone.now()
    ended = 0
    for session in ChallengeSession.objects.filter(status=SessionStatus.ACTIVE, ends_at__lte=now).select_related(
        "challenge"
    ):
        try:
            ended += bool(end_session(session, SessionStatus.EXPIRED))
        except Exception:
            logger.exception("could not end session %s", session.pk)
    return ended


# ------------------------------------------------------------------------------ export
def export_user(user) -> list[dict]:
    """The multiplayer sessions the user took part in (the user's data export)."""
    rows = ChallengeSessionParticipant.objects.filter(user=user).select_related("session").order_by("created_at")
    return [
        {
            "session_id": p.session_id,
            "challenge_id": p.session.challenge_id,
            "host": p.session.host_id == user.pk,
            "status": p.session.status,
            "started_at": iso_utc(p.session.started_at),
            "ended_at": iso_utc(p.session.ended_at),
            "progress": p.progress,
            "finished_at": iso_utc(p.finished_at),
            "rank": p.rank,
            "bonus_points": p.bonus_points,
        }
        for p in rows
    ]
