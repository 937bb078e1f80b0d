"""Subscribers of other apps' domain events (registered in NotificationsConfig.ready()).

All run after the emitter's transaction commits: a rolled-back change notifies no one.
"""

from __future__ import annotations

import logging
import threading
import time

from deepiri import events
from deepiri.redis import get_redis, key

from . import realtime, services
from .models import NotificationType, Priority

logger = logging.getLogger(__name__)

LEADERBOARD_MIN_INTERVAL = 0.5  # seconds: at most one leaderboard-update per room per half second
LEADERBOARD_TOP = 10


def _attr(obj, *names, default=None):
    for name in names:
        value = getattr(obj, name, None)
        if value not in (None, ""):
            return value
    return default


# ------------------------------------------------------------------------------ gamification
def on_badge_awarded(*, user, badge, **_):
    name = _attr(badge, "name", default="a badge")
    services.notify(
        user,
        NotificationType.BADGE_EARNED,
        f"Badge earned: {name}",
        _attr(badge, "description", default=f"You earned the {name} badge."),
        data={
            "badge_id": str(badge.pk),
            "slug": _attr(badge, "slug"),
            "icon": _attr(badge, "icon"),
            "rarity": _attr(badge, "rarity"),
        },
        priority=Priority.MEDIUM,
        dedupe_key=f"badge:{badge.pk}",
    )


def on_level_up(*, user, from_level, to_level, **_):
    services.notify(
        user,
        NotificationType.LEVEL_UP,
        f"Level up! You reached level {to_level}",
        f"You went from level {from_level} to level {to_level}. Keep going!",
        data={"from": from_level, "to": to_level},
        priority=Priority.HIGH,
        dedupe_key=f"level:{to_level}",
    )


# ------------------------------------------------------------------------------ challenges
def challenge_payload(challenge) -> dict:
    """The REST shape of the challenge (issue 3's `challenge_to_dict`: plain JSON values)."""
    from challenges.serializers import challenge_to_dict

    return challenge_to_dict(challenge)


def on_challenge_generated(*, user, challenge, **_):
    realtime.send_to_user_now(str(user.pk), "challenge-generated", {"challenge": challenge_payload(challenge)})
    services.notify(
        user,
        NotificationType.CHALLENGE_GENERATED,
        f"New challenge ready: {challenge.title}"[:200],
        "Your challenge is ready. Start it when you are.",
        data={
            "challenge_id": str(challenge.pk),
            "task_id": str(challenge.task_id) if getattr(challenge, "task_id", None) else None,
            "type": _attr(challenge, "type"),
            "difficulty": _attr(challenge, "difficulty"),
        },
        priority=Priority.MEDIUM,
        dedupe_key=f"challenge:{challenge.pk}",
    )


# ------------------------------------------------------------------------------ integrations
def _service_name(connection) -> str:
    return str(_attr(connection, "provider", "service", default="integration"))


def on_integration_synced(*, user, connection, run, **_):
    """Tell the user what a sync brought in. Scheduled and webhook syncs that changed nothing
    stay quiet (they run every few minutes); a manual or first sync always reports."""
    service = _service_name(connection)
    created = int(_attr(run, "created_count", default=0) or 0)
    updated = int(_attr(run, "updated_count", default=0) or 0)
    completed = int(_attr(run, "completed_count", default=0) or 0)
    deleted = int(_attr(run, "deleted_count", default=0) or 0)
    trigger = _attr(run, "trigger", default="manual")
    if created + updated + completed + deleted == 0 and trigger not in ("manual", "connect"):
        return
    parts = [f"{created} new", f"{updated} updated"]
    if completed:
        parts.append(f"{completed} completed")
    if deleted:
        parts.append(f"{deleted} removed")
    services.notify(
        user,
        NotificationType.INTEGRATION_SYNCED,
        f"{_label(service)} sync finished",
        f"{', '.join(parts)} tasks.",
        data={
            "service": service,
            "run_id": str(run.pk),
            "created": created,
            "updated": updated,
            "completed": completed,
            "deleted": deleted,
        },
        priority=Priority.LOW,
        dedupe_key=f"sync:{run.pk}",
    )


def on_integration_failed(*, user, connection, run=None, error=None, **_):
    service = _service_name(connection)
    error = str(error or _attr(run, "error", default="") or "The sync did not finish.")
    needs_reauth = error.startswith("needs_reauth:")
    if needs_reauth:
        title = f"Reconnect {_label(service)}"
        message = f"Deepiri lost access to your {_label(service)} account. Reconnect it to keep importing tasks."
    else:
        title = f"{_label(service)} sync failed"
        message = error[:500]
    if run is not None:
        dedupe = f"sync:{run.pk}"
    else:  # no run (the grant died): once per connection per day
        from django.utils import timezone

        dedupe = f"sync-failed:{connection.pk}:{timezone.now():%Y-%m-%d}"
    services.notify(
        user,
        NotificationType.INTEGRATION_FAILED,
        title,
        message,
        data={"service": service, "run_id": str(run.pk) if run is not None else None, "needs_reauth": needs_reauth},
        priority=Priority.HIGH,
        dedupe_key=dedupe,
    )


def _label(service: str) -> str:
    return {"google_docs": "Google Docs", "github": "GitHub"}.get(service, service.replace("_", " ").title())


# ------------------------------------------------------------------------------ leaderboards
def _pending_key(period: str) -> str:
    return key("rt", "lb", "changed", period)


def _gate_key(period: str) -> str:
    return key("rt", "lb", "gate", period)


def _trail_key(period: str) -> str:
    return key("rt", "lb", "trail", period)


def on_leaderboard_changed(*, period, user_ids=(), **_):
    """Coalesce: send at once if no update went out in the last half second, otherwise make
    sure exactly one trailing update goes out when the half second is over."""
    if period not in realtime.LEADERBOARD_PERIODS:
        return
    r = get_redis()
    user_ids = [str(u) for u in user_ids]
    if user_ids:
        pipe = r.pipeline(transaction=False)
        pipe.sadd(_pending_key(period), *user_ids)
        pipe.expire(_pending_key(period), 60)
        pipe.execute()
    window_ms = int(LEADERBOARD_MIN_INTERVAL * 1000)
    if r.set(_gate_key(period), 1, nx=True, px=window_ms):
        flush_leaderboard(period)
        return
    if r.set(_trail_key(period), 1, nx=True, px=window_ms * 4):
        remaining_ms = r.pttl(_gate_key(period))
        delay = max(remaining_ms, 1) / 1000 if remaining_ms and remaining_ms > 0 else 0.001
        timer = threading.Timer(delay, _trailing_flush, args=(period,))
        timer.daemon = True
        timer.start()


def _trailing_flush(period: str) -> None:
    r = get_redis()
    window_ms = int(LEADERBOARD_MIN_INTERVAL * 1000)
    try:
        for _ in range(50):
            if r.set(_gate_key(period), 1, nx=True, px=window_ms):
                break
            time.sleep(max(r.pttl(_gate_key(period)), 5) / 1000)
        r.delete(_trail_key(period))
        flush_leaderboard(period)
    except Exception:
        logger.exception("leaderboard trailing flush failed for %s", period)
    finally:
        from django.db import connection

        connection.close()


def flush_leaderboard(period: str) -> bool:
    """Send one `leaderboard-update` for `period` with every user changed since the last one."""
    r = get_redis()
    pipe = r.pipeline(transaction=True)
    pipe.smembers(_pending_key(period))
    pipe.delete(_pending_key(period))
    changed_ids, _ = pipe.execute()
    top, changed = leaderboard_snapshot(period, sorted(changed_ids))
    realtime.send_to_room_now(
        f"leaderboard:{period}", "leaderboard-update", {"period": period, "top": top, "changed": changed}
    )
    return True


def leaderboard_snapshot(period: str, changed_ids: list[str]) -> tuple[list[dict], list[dict]]:
    """The visible top of a board and the new rank and points of the users that changed
    (users who hide themselves from the leaderboard are left out, as on the REST board)."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from gamification import leaderboards

    board = leaderboards.top_and_rank(period, "", LEADERBOARD_TOP)
    period_id, _start, _end = leaderboards.period_bounds(period, timezone.now())
    pub = leaderboards.board_key(period_id, "pub")
    r = get_redis()
    changed = []
    if changed_ids:
        scores = r.zmscore(pub, changed_ids)
        present = [
            (uid, int(float(score))) for uid, score in zip(changed_ids, scores, strict=True) if score is not None
        ]
        pipe = r.pipeline(transaction=False)
        for _uid, points in present:
            pipe.zcount(pub, f"({points}", "+inf")
        above = pipe.execute() if present else []
        changed = [
            {"user_id": uid, "rank": int(n) + 1, "points": points}
            for (uid, points), n in zip(present, above, strict=True)
        ]
    ids = [uid for uid, _points, _rank in board.top]
    users = (
        {u["id"]: u for u in get_user_model().objects.filter(pk__in=ids).values("id", "name", "profile_picture")}
        if ids
        else {}
    )
    top = [
        {
            "rank": rank,
            "user_id": {
                "_id": uid,
                "id": uid,
                "name": users.get(uid, {}).get("name", ""),
                "profile_picture": users.get(uid, {}).get("profile_picture", ""),
            },
            "points": points,
        }
        for uid, points, rank in board.top
    ]
    return top, changed


def subscribe_all() -> None:
    events.subscribe("badge.awarded", on_badge_awarded, after_commit=True)
    events.subscribe("level.up", on_level_up, after_commit=True)
    events.subscribe("challenge.generated", on_challenge_generated, after_commit=True)
    events.subscribe("integration.synced", on_integration_synced, after_commit=True)
    events.subscribe("integration.failed", on_integration_failed, after_commit=True)
    events.subscribe("leaderboard.changed", on_leaderboard_changed, after_commit=True)


# ------------------------------------------------------------------------------ accounts
def on_user_activation_changed(*, user, active, **_):
    """A deactivated user's open sockets close at once (4401), as their tokens stop working."""
    if not active:
        realtime.close_user_sockets(str(user.pk))


def on_user_deleted(*, user_id, **_):
    """Rows go with the account (FK cascade); the Redis side (event sequence, sockets) goes here."""
    try:
        realtime.close_user_sockets(str(user_id))
    except Exception:
        logger.warning("could not close the sockets of deleted user %s", user_id, exc_info=True)
    r = get_redis()
    r.delete(realtime.seq_key(str(user_id)), key("rt", "sockets", str(user_id)))
    r.zrem(key("rt", "online"), str(user_id))


def export_user(user) -> dict:
    from .models import Notification
    from .serializers import NotificationSerializer, NotificationSettingsSerializer

    return {
        "settings": NotificationSettingsSerializer(services.get_settings(user)).data,
        "notifications": NotificationSerializer(Notification.objects.filter(user=user), many=True).data,
    }


def export_sessions(user) -> list[dict]:
    """The multiplayer sessions the user took part in (challenges/sessions.py, issue 5)."""
    from challenges.session_models import ChallengeSessionParticipant

    rows = ChallengeSessionParticipant.objects.filter(user=user).select_related("session").order_by("created_at")
    return [
        {
            "session_id": p.session_id,
            "challenge_id": p.session.challenge_id,
            "host": p.session.host_id == user.pk,
            "status": p.session.status,
            "started_at": p.session.started_at.isoformat(),
            "ended_at": p.session.ended_at.isoformat() if p.session.ended_at else None,
            "progress": p.progress,
            "finished_at": p.finished_at.isoformat() if p.finished_at else None,
            "rank": p.rank,
            "bonus_points": p.bonus_points,
        }
        for p in rows
    ]
