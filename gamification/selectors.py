"""Read helpers for the gamification endpoints: each builds one response payload (snake_case)
with a fixed number of queries, whatever the page size.

They only read: no write, no lock, no event, and no call into services. Streaks are shown as
they stand today in the user's zone (a streak whose day passed unfulfilled shows as broken,
a freeze as spent) without storing it: the stored state catches up where time passes, on the
user's next award and in the hourly `gamification.refresh_streaks` job."""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.db.models import Count, Q
from django.utils import timezone
from redis.exceptions import RedisError

from accounts import selectors as account_selectors
from gamification import leaderboards, rules
from gamification.models import Activity, Badge, GamificationProfile, LedgerEntry, UserBadge
from kernel.api.times import iso_utc

logger = logging.getLogger(__name__)
RECENT_ENTRIES = 10


def today_of(user, now=None):
    """The user's local date (their IANA zone)."""
    return rules.local_date(now or timezone.now(), user.tzinfo)


def profile_of(user) -> GamificationProfile:
    """The user's profile, or an unsaved one with the starting values when they have none yet
    (profiles are made at sign-up and by the first award, never by a read)."""
    return GamificationProfile.objects.filter(user=user).first() or GamificationProfile(user=user)


def profile_as_of_today(user) -> GamificationProfile:
    """The profile with its streaks as they stand today (in memory only; never saved here)."""
    prof = profile_of(user)
    today = today_of(user)
    prof.daily, prof.weekly = rules.daily_as_of(prof.daily, today), rules.weekly_as_of(prof.weekly, today)
    return prof


def ledger_row(entry: LedgerEntry) -> dict:
    return {
        "_id": entry.pk,
        "id": entry.pk,
        "points": entry.points,
        "xp": entry.xp,
        "reason": entry.reason,
        "source": entry.source,
        "source_id": entry.source_id,
        "breakdown": entry.breakdown,
        "reverses": entry.reverses_id,
        "occurred_at": entry.occurred_at,
        "created_at": entry.created_at,
    }


def history(user):
    return LedgerEntry.objects.filter(user=user).order_by("-created_at", "-id")


def points(user) -> dict:
    profile = profile_of(user)
    state = profile.level_state
    return {
        "points": profile.points,
        "xp": state.xp_in_level,
        "total_xp": profile.xp,
        "level": state.level,
        "xp_to_next_level": state.xp_to_next_level,
        "recent": [ledger_row(e) for e in history(user)[:RECENT_ENTRIES]],
    }


def _streaks(profile: GamificationProfile, today) -> dict:
    daily = rules.daily_as_of(profile.daily, today)
    weekly = rules.weekly_as_of(profile.weekly, today)
    return {
        "daily": {"current": daily.current, "longest": daily.longest, "last_date": daily.last_date},
        "weekly": {"current": weekly.current, "longest": weekly.longest, "last_week": weekly.last_week},
        "freezes": daily.freezes,
    }


def _badge_list(profile: GamificationProfile) -> list[dict]:
    return [{"_id": b["id"], **b} for b in profile.badges]


def preferences(profile: GamificationProfile) -> dict:
    return {
        "show_leaderboard": profile.show_leaderboard,
        "enable_notifications": profile.enable_notifications,
        "challenge_difficulty": profile.challenge_difficulty,
    }


def profile(user) -> dict:
    """The dashboard payload of the original web client; streaks as of today (never stale)."""
    prof = profile_as_of_today(user)
    state = prof.level_state
    try:
        my_rank = leaderboards.read_fresh("all", user.pk, 0).my_rank
    except (RedisError, leaderboards.BoardsRebuilding):  # the dashboard still works without its rank
        logger.warning("rank unavailable for the profile of %s", user.pk, exc_info=True)
        my_rank = None
    return {
        "_id": prof.pk,
        "id": prof.pk,
        "user_id": user.pk,
        "points": prof.points,
        "level": state.level,
        "xp": state.xp_in_level,
        "total_xp": prof.xp,
        "xp_to_next_level": state.xp_to_next_level,
        "rank": my_rank,
        "streaks": _streaks(prof, today_of(user)),
        "stats": {
            "tasks_completed": prof.tasks_completed,
            "challenges_completed": prof.challenges_completed,
            "total_time_spent": prof.total_time_spent,
            "average_efficiency": prof.average_efficiency,
        },
        "badges": _badge_list(prof),
        "achievements": [
            {
                "achievement_id": b["slug"],
                "achievement_name": b["name"],
                "unlocked_at": b["earned_at"],
                "progress": 100,
            }
            for b in prof.badges
        ],
        "preferences": preferences(prof),
        "created_at": prof.created_at,
        "updated_at": prof.updated_at,
    }


def badge_payload(badge: Badge, user_badge: UserBadge | None, progress: tuple[int, int]) -> dict:
    earned = user_badge is not None and user_badge.revoked_at is None
    return {
        "_id": badge.pk,
        "id": badge.pk,
        "slug": badge.slug,
        "name": badge.name,
        "icon": badge.icon,
        "description": badge.description,
        "category": badge.category,
        "rarity": badge.rarity,
        "points": badge.points,
        "criteria": badge.criteria,
        "earned": earned,
        "earned_at": user_badge.earned_at if earned else None,
        "revoked": user_badge is not None and user_badge.revoked_at is not None,
        "progress": {"current": progress[1] if earned else progress[0], "target": progress[1]},
    }


def badges(user) -> list[dict]:
    """The active catalogue with the user's state and progress (4 queries; streak progress as
    of the user's today)."""
    prof = profile_as_of_today(user)
    catalogue = list(Badge.objects.filter(active=True))
    owned = {ub.badge_id: ub for ub in UserBadge.objects.filter(user=user)}
    counts = event_counts(user, catalogue)
    return [badge_payload(b, owned.get(b.pk), badge_progress(b, prof, counts)) for b in catalogue]


def _event_filter(criteria) -> Q:
    q = Q(kind=criteria["event"])
    for name, value in (criteria.get("filters") or {}).items():
        field, _, op = name.partition("__")
        if op == "ne":
            q &= ~Q(**{f"facts__{field}": value}) & Q(**{f"facts__{field}__isnull": False})
        elif op in ("", "eq"):
            q &= Q(**{f"facts__{field}": value})
        else:
            q &= Q(**{f"facts__{field}__{op}": value})
    return q


def event_counts(user, badges) -> dict[str, int]:
    """How many recorded events match each event_count badge: one aggregate query."""
    wanted = [b for b in badges if b.criteria.get("type") == "event_count"]
    if not wanted:
        return {}
    counts = Activity.objects.filter(user=user, reversed=False).aggregate(
        **{f"b{i}": Count("id", filter=_event_filter(b.criteria)) for i, b in enumerate(wanted)}
    )
    return {b.pk: counts[f"b{i}"] for i, b in enumerate(wanted)}


def badge_progress(badge: Badge, profile: GamificationProfile, counts: dict[str, int]) -> tuple[int, int]:
    return rules.criteria_progress(badge.criteria, profile.metrics(), counts.get(badge.pk, 0))



def _entry(rank: int, points_: int, prof: GamificationProfile, today_by_tz: dict) -> dict:
    user = prof.user
    tz = user.tzinfo
    today = today_by_tz.setdefault(str(tz), rules.local_date(timezone.now(), tz))
    return {
        "rank": rank,
        "user_id": {"_id": user.pk, "id": user.pk, "name": user.name, "profile_picture": user.profile_picture},
        "points": points_,
        "level": prof.level,
        "stats": {"tasks_completed": prof.tasks_completed, "challenges_completed": prof.challenges_completed},
        "streaks": {"daily": {"current": rules.daily_as_of(prof.daily, today).current}},
        "badges": _badge_list(prof),
    }


def leaderboard(user, *, period: str, scope: str, limit: int, skip: int = 0) -> dict:
    """`limit` rows of a board from position `skip`, the caller's own `{rank, points}` and the
    number of ranked users (`total`, for the page's pagination).

    global: one Redis round trip, one SQL query. friends: one SQL query (friends and their
    profiles), one Redis round trip. Users hiding themselves are not listed to others."""
    today_by_tz: dict = {}
    if scope == "friends":
        friends = list(
            GamificationProfile.objects.filter(user__in=account_selectors.friends_of(user), show_leaderboard=True).select_related("user")
        )
        own = profile_of(user)
        own.user = user
        members = {p.user_id: p for p in friends}
        members[user.pk] = own
        if not leaderboards.is_built():
            leaderboards.start_rebuild()
            if not leaderboards.is_built():
                raise leaderboards.BoardsRebuilding()
        scores = leaderboards.scores_for(period, list(members))
        ordered = sorted(((uid, pts) for uid, pts in scores.items() if pts > 0), key=lambda x: (-x[1], x[0]))
        rows, previous, previous_rank, me = [], None, 0, {"rank": None, "points": scores.get(user.pk, 0)}
        for index, (uid, pts) in enumerate(ordered):
            rank = previous_rank if pts == previous else index + 1
            previous, previous_rank = pts, rank
            if uid == user.pk:
                me["rank"] = rank
            if skip <= index < skip + limit:
                rows.append(_entry(rank, pts, members[uid], today_by_tz))
        return {"data": rows, "me": me, "total": len(ordered)}

    read = leaderboards.read_fresh(period, user.pk, limit, skip=skip)
    ids = [uid for uid, _pts, _rank in read.top]
    profiles = {p.user_id: p for p in GamificationProfile.objects.filter(user_id__in=ids).select_related("user")} if ids else {}
    rows = [
        _entry(rank, pts, profiles[uid], today_by_tz) for uid, pts, rank in read.top if uid in profiles
    ]
    return {"data": rows, "me": {"rank": read.my_rank, "points": read.my_points}, "total": read.total}


def rank(user, period: str) -> dict:
    read = leaderboards.read_fresh(period, user.pk, 0)
    return {"rank": read.my_rank, "points": read.my_points}


def export(user) -> dict:
    prof = GamificationProfile.objects.filter(user=user).first()
    return {
        "profile": None
        if prof is None
        else {
            "points": prof.points,
            "xp": prof.xp,
            "level": prof.level,
            "streaks": _streaks(prof, today_of(user)),
            "stats": {
                "tasks_completed": prof.tasks_completed,
                "challenges_completed": prof.challenges_completed,
                "total_time_spent": prof.total_time_spent,
                "average_efficiency": prof.average_efficiency,
            },
            "preferences": preferences(prof),
        },
        "ledger": [
            {**ledger_row(e), "occurred_at": iso_utc(e.occurred_at), "created_at": iso_utc(e.created_at)}
            for e in history(user)
        ],
        "badges": [
            {
                "slug": ub.badge.slug,
                "name": ub.badge.name,
                "earned_at": iso_utc(ub.earned_at),
                "revoked_at": iso_utc(ub.revoked_at),
            }
            for ub in UserBadge.objects.filter(user=user).select_related("badge")
        ],
        "activities": [
            {"kind": a.kind, "subject_id": a.subject_id, "facts": a.facts, "occurred_at": iso_utc(a.occurred_at),
             "local_date": a.local_date.isoformat(), "reversed": a.reversed}
            for a in Activity.objects.filter(user=user).order_by("occurred_at")
        ],
    }


LIVE_TOP = 10


def leaderboard_snapshot(period: str, changed_ids: list[str]) -> tuple[list[dict], list[dict]]:
    """What a live `leaderboard-update` carries: the visible top of a board and the new rank and
    points of the users that changed (users hidden from the leaderboard are left out, as on the
    REST board)."""
    board = leaderboards.top_and_rank(period, "", LIVE_TOP)
    changed = [
        {"user_id": uid, "rank": rank, "points": points}
        for uid, rank, points in leaderboards.public_ranks(period, changed_ids)
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
