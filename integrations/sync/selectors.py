"""The read of `GET /api/sync`: pages of a user's objects that changed between two database
snapshots (or of all of them, the full state), each object once, current state or tombstone.

A cursor carries PostgreSQL snapshots (`pg_current_snapshot()` text, `xmin:xmax:xip…`):
- `snap`: what the client has (every logged write whose transaction `snap` saw);
- `to`: where the walk in progress ends (fixed at its first page, so its pages are one set);
- `after`: the position in that walk (the last change-log id, or for the full state the kind
  and last object id).
The rows of a walk are those visible in `to` and not in `snap`: a transaction committing after a
later-numbered one is not visible in the snapshot taken between their commits, so it comes in the
next walk; nothing depends on clocks or commit order. An object is sent with its state at read
time (possibly newer than `to`: it comes again next time, and a client applies it idempotently
by id and `version`).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db import connection
from django.utils import timezone

from accounts import selectors as account_selectors
from challenges import selectors as challenge_selectors
from integrations.sync.models import SyncChange, SyncKind
from notifications import selectors as notification_selectors
from tasks import selectors as task_selectors

KINDS = (SyncKind.PROFILE, SyncKind.TASK, SyncKind.CHALLENGE, SyncKind.NOTIFICATION)


class CursorExpired(Exception):
    """The client must start over with a full sync (no cursor)."""


def retention() -> timedelta:
    return timedelta(days=settings.SYNC_RETENTION_DAYS)


def current_snapshot() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_snapshot()::text")
        return cursor.fetchone()[0]


def _xmin(snapshot: str) -> int:
    return int(snapshot.split(":", 1)[0])


def check_fresh(issued_at: float) -> None:
    """A cursor older than the log's retention may have lost tombstones: full sync."""
    if timezone.now().timestamp() - issued_at > retention().total_seconds():
        raise CursorExpired("This cursor is older than the change history kept; start a full sync (no cursor).")


# --- the objects, current state or tombstone ----------------------------------------------------

def _states(user, wanted: list[tuple[str, str]]) -> list[dict]:
    """[(kind, id)] → entries in that order; one query per kind present (a task's columns owned
    by other apps add a fixed number), whatever the page size."""
    by_kind: dict[str, list[str]] = {}
    for kind, object_id in wanted:
        by_kind.setdefault(kind, []).append(object_id)
    found: dict[tuple[str, str], dict] = {}
    if ids := by_kind.get(SyncKind.TASK):
        tasks = task_selectors.tasks_for_user(user).filter(pk__in=ids).select_related("occurrence__series")
        for row in task_selectors.as_wire_rows(tasks):
            found[(SyncKind.TASK, row["id"])] = row
    if ids := by_kind.get(SyncKind.CHALLENGE):
        for challenge in challenge_selectors.challenges_for_user(user).filter(pk__in=ids):
            found[(SyncKind.CHALLENGE, challenge.pk)] = challenge_selectors.as_wire(challenge)
    if ids := by_kind.get(SyncKind.NOTIFICATION):
        for row in notification_selectors.as_wire_rows(notification_selectors.of_user_by_ids(user, ids)):
            found[(SyncKind.NOTIFICATION, row["id"])] = row
    if by_kind.get(SyncKind.PROFILE):
        fresh = account_selectors.active_user(user.pk)
        if fresh is not None:
            found[(SyncKind.PROFILE, fresh.pk)] = account_selectors.profile_as_wire(fresh)
    out = []
    for kind, object_id in wanted:
        data = found.get((kind, object_id))
        out.append({"type": str(kind), "id": object_id, "deleted": data is None, "data": data})
    return out


# --- full state -------------------------------------------------------------------------------

def _ids_of_kind(user, kind: str, after_id: str, limit: int) -> list[str]:
    if kind == SyncKind.PROFILE:
        return [user.pk] if not after_id else []
    if kind == SyncKind.TASK:
        qs = task_selectors.tasks_for_user(user)
    elif kind == SyncKind.CHALLENGE:
        qs = challenge_selectors.challenges_for_user(user)
    else:
        qs = notification_selectors.of_user_by_ids(user, None)
    if after_id:
        qs = qs.filter(pk__gt=after_id)
    return list(qs.order_by("pk").values_list("pk", flat=True)[:limit])


def full_page(user, *, to: str, kind_index: int, after_id: str, limit: int) -> tuple[list[dict], dict | None]:
    """A page of the full state and the position after it (None when it was the last page).
    Kinds in a fixed order, ids ascending within a kind."""
    wanted: list[tuple[str, str]] = []
    while kind_index < len(KINDS):
        kind = KINDS[kind_index]
        ids = _ids_of_kind(user, kind, after_id, limit + 1 - len(wanted))
        wanted += [(kind, object_id) for object_id in ids]
        if len(wanted) > limit:
            wanted = wanted[:limit]
            return _states(user, wanted), {"kind": kind_index, "id": wanted[-1][1]}
        kind_index, after_id = kind_index + 1, ""
    return _states(user, wanted), None


# --- changes between two snapshots ---------------------------------------------------------------

_CHANGES_SQL = f"""
SELECT kind, object_id, max(id) AS position
  FROM {SyncChange._meta.db_table}
 WHERE user_id = %s AND xid >= %s
   AND pg_visible_in_snapshot(xid::text::xid8, %s::pg_snapshot)
   AND NOT pg_visible_in_snapshot(xid::text::xid8, %s::pg_snapshot)
 GROUP BY kind, object_id
HAVING max(id) > %s
 ORDER BY position
 LIMIT %s
"""  # noqa: S608 - the table name is ours, every value a parameter


def changes_page(user, *, since: str, to: str, after: int, limit: int) -> tuple[list[dict], int | None]:
    """A page of the objects written by transactions `to` saw and `since` did not, each once,
    and the position after it (None when it was the last page)."""
    with connection.cursor() as cursor:
        cursor.execute(_CHANGES_SQL, [user.pk, _xmin(since), to, since, after, limit + 1])
        rows = cursor.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    entries = _states(user, [(kind, object_id) for kind, object_id, _ in rows])
    return entries, (rows[-1][2] if more else None)


# --- cursors and pages --------------------------------------------------------------------------

MAX_CURSOR_LENGTH = 8000


def _salt(user) -> str:
    # bound to its user: another account's cursor is unreadable here
    return f"deepiri.sync:{user.pk}"


def sign_cursor(user, payload: dict) -> str:
    return signing.dumps(payload, salt=_salt(user), compress=True)


def read_cursor(user, raw: str) -> dict:
    """The cursor's payload; CursorExpired when it is not one we signed for this user, or too old."""
    try:
        if len(raw) > MAX_CURSOR_LENGTH:
            raise signing.BadSignature
        payload = signing.loads(raw, salt=_salt(user))
        if not isinstance(payload, dict) or payload.get("v") != 1:
            raise signing.BadSignature
    except (signing.BadSignature, ValueError, UnicodeError):
        raise CursorExpired("This cursor is not readable; start a full sync (no cursor).") from None
    check_fresh(payload["at"])
    return payload


def sync_page(user, payload: dict | None, limit: int) -> dict:
    """One page: {"changes", "cursor" (signed), "has_more", "full"}."""
    now = timezone.now().timestamp()
    if payload is None:  # the full state, ending at a snapshot taken now
        payload = {"v": 1, "to": current_snapshot(), "at": now, "kind": 0, "id": ""}
    if "snap" not in payload or "kind" in payload:
        entries, position = full_page(user, to=payload["to"], kind_index=payload["kind"],
                                      after_id=payload["id"], limit=limit)
        if position is None:
            following = {"v": 1, "snap": payload["to"], "at": payload["at"]}
        else:
            following = {**payload, **position}
        return {"changes": entries, "cursor": sign_cursor(user, following), "has_more": position is not None,
                "full": True}
    if "to" not in payload:  # the first page of a walk: fix where it ends
        payload = {**payload, "to": current_snapshot(), "to_at": now, "after": 0}
    entries, position = changes_page(user, since=payload["snap"], to=payload["to"], after=payload["after"],
                                     limit=limit)
    if position is None:
        following = {"v": 1, "snap": payload["to"], "at": payload["to_at"]}
    else:
        following = {**payload, "after": position}
    return {"changes": entries, "cursor": sign_cursor(user, following), "has_more": position is not None,
            "full": False}
