"""The iCalendar (RFC 5545) body of a feed, built with the `icalendar` library.

One VEVENT per task:
- UID `<task id>@deepiri`: one task row per occurrence, so it is stable per task and occurrence;
- SEQUENCE the task's `due_revision` (bumped on write whenever the due date moves), DTSTAMP and
  LAST-MODIFIED its `updated_at`: a render is a pure function of the rows, so equal rows give
  byte-equal bodies (what a strong ETag promises);
- a timed task is an instant at its due time (DTSTART only, in UTC: RFC 5545 gives it no
  duration); a date-only task is an all-day event on its day in the user's zone (DATE values);
- SUMMARY is the title, `✓ ` first when done; a cancelled task is STATUS:CANCELLED; every event
  is TRANSPARENT (a task does not make its owner busy). No description: the feed is fetched by
  third-party calendar servers, so it carries the least that is useful.

Rendering an event with icalendar costs ~0.2 ms (property objects, content lines, folding), too
much for a 1,000-task feed on every poll, so the rendered events of each month are cached in
Redis under a hash of exactly what they are made of; an edit changes its month's hash, and only
that month is rendered again. A cache is not a row: a read filling it writes nothing to the
database.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event, vDate, vDDDTypes, vDuration, vInt, vText

from kernel.redis import get_redis, key

# Bump when the output of `_event` changes: old cached events are then never read again.
FORMAT = "1"
CACHE_SECONDS = 7 * 86400
DONE_PREFIX = "✓ "
CRLF = b"\r\n"


def _fields_of(row: tuple, tz) -> tuple:
    task_id, title, status, due, date_only, revision, updated = row
    day = due.astimezone(tz).date() if date_only else None
    return task_id, title, status, due, day, revision, updated


def _event(fields: tuple) -> bytes:
    task_id, title, status, due, day, revision, updated = fields
    event = Event()
    event["UID"] = vText(f"{task_id}@deepiri")
    event["DTSTAMP"] = vDDDTypes(updated.astimezone(UTC))
    event["LAST-MODIFIED"] = vDDDTypes(updated.astimezone(UTC))
    event["SEQUENCE"] = vInt(revision)
    if day is not None:
        event["DTSTART"] = vDate(day)
        event["DTEND"] = vDate(day + timedelta(days=1))
    else:
        event["DTSTART"] = vDDDTypes(due.astimezone(UTC))
    event["SUMMARY"] = vText((DONE_PREFIX if status == "completed" else "") + title)
    event["STATUS"] = vText("CANCELLED" if status == "cancelled" else "CONFIRMED")
    event["TRANSP"] = vText("TRANSPARENT")
    return event.to_ical()


def _material(fields: tuple) -> str:
    task_id, title, status, due, day, revision, updated = fields
    return f"{task_id}\x1f{title}\x1f{status}\x1f{due.timestamp()}\x1f{day}\x1f{revision}\x1f{updated.timestamp()}"


def _events(rows: list[tuple], tz) -> list[bytes]:
    """The VEVENT blocks of `rows` (soonest first), cached per calendar month of the due date:
    a month's block is kept under a hash of exactly what its events are made of, so an edit
    renders that month again and the other months come from one MGET. (Per event, the round
    trip's per-key cost was most of a warm render.)"""
    months: dict[tuple[int, int], list[tuple]] = {}
    for row in rows:
        fields = _fields_of(row, tz)
        months.setdefault((fields[3].year, fields[3].month), []).append(fields)
    prefix = key("calendar", "events", "")
    keys = [
        prefix + hashlib.blake2b("\x1e".join([FORMAT, *map(_material, group)]).encode(), digest_size=16).hexdigest()
        for group in months.values()
    ]
    redis = get_redis()
    try:
        cached = redis.mget(keys) if keys else []
    except Exception:  # noqa: BLE001 - Redis down: render every event, the feed still answers
        cached = [None] * len(keys)
    out, missing = [], {}
    for group, name, hit in zip(months.values(), keys, cached, strict=True):
        if hit is None:
            hit = b"".join(_event(fields) for fields in group).decode()
            missing[name] = hit
        out.append(hit.encode())
    if missing:
        try:
            pipe = redis.pipeline(transaction=False)
            for name, value in missing.items():
                pipe.set(name, value, ex=CACHE_SECONDS)
            pipe.execute()
        except Exception:  # noqa: BLE001, S110 - a cache that could not be filled is only slower next time
            pass
    return out


def render(rows: list[tuple], *, tz, name: str, refresh: timedelta) -> bytes:
    """The whole calendar: the envelope built by icalendar, the events spliced in (each one is
    already a complete, folded `BEGIN:VEVENT … END:VEVENT` block)."""
    cal = Calendar()
    cal["PRODID"] = vText("-//Deepiri//Task calendar//EN")
    cal["VERSION"] = vText("2.0")
    cal["CALSCALE"] = vText("GREGORIAN")
    cal["METHOD"] = vText("PUBLISH")
    cal["NAME"] = vText(name)
    cal["X-WR-CALNAME"] = vText(name)
    # How often a client should poll (RFC 7986; X-PUBLISHED-TTL for Outlook and older clients).
    cal["REFRESH-INTERVAL"] = vDuration(refresh)
    cal["REFRESH-INTERVAL"].params["VALUE"] = "DURATION"
    cal["X-PUBLISHED-TTL"] = vDuration(refresh)
    envelope = cal.to_ical()
    end = b"END:VCALENDAR" + CRLF
    head = envelope[: -len(end)]
    events = _events(rows, tz)
    return b"".join([head, *events, end])


def version_tag(*parts) -> str:
    """A strong ETag from what a body is a function of."""
    return '"' + hashlib.blake2b(repr((FORMAT, *parts)).encode(), digest_size=16).hexdigest() + '"'


def window(now: datetime, past_days: int, future_days: int) -> tuple[datetime, datetime]:
    """[start, end) aligned to UTC midnights, so the list (and the ETag) changes once a day,
    not on every request."""
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - timedelta(days=past_days), midnight + timedelta(days=future_days + 1)
