"""RRULE bodies: the allowed subset, parsing with dateutil, expansion in local wall time.

The schedule is expanded on naive local date-times (the wall clock of the series' zone) and
each instance is only then placed in the zone: a 09:00 habit stays 09:00 across DST changes,
a time inside a spring-forward gap moves forward by the gap (`fold=0`, RFC 5545 §3.3.5), and a
time inside a fold takes its first occurrence. Parsing is dateutil's (`rrulestr`); this module
only refuses what the API does not offer (HOURLY, BYHOUR, DTSTART inside, ...) and reads UNTIL,
which dateutil refuses with a naive start when it ends in `Z`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from itertools import islice
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrule, rrulestr

from tasks.errors import TaskError

MAX_RULE_LENGTH = 500
FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
PARTS = frozenset({"FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "BYMONTH", "BYSETPOS", "COUNT", "UNTIL", "WKST"})
ANCHORS = ("due", "completion")
# A rule must occur within this long after its start, else it is refused (Feb 30 never comes).
HORIZON = timedelta(days=5 * 366)
# Walking a schedule forward stops after this many instances (a daily rule missed for 27 years).
MAX_STEPS = 10_000
LOCAL_FORMAT = "%Y-%m-%dT%H:%M:%S"


def naive(value: str, fmt: str) -> datetime:
    """A wall-clock time read from text: naive on purpose, placed in a zone by `place`."""
    return datetime.strptime(value, fmt)  # noqa: DTZ007 - a local wall-clock time, zoned later


class RuleError(ValueError):
    """A rule the API does not accept; `code` is the field error code."""

    def __init__(self, message: str, code: str = TaskError.INVALID_RULE):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Until:
    value: str  # as written
    utc: bool
    date_only: bool


def _parts(body: str) -> dict[str, str]:
    if not isinstance(body, str) or not body.strip():
        raise RuleError("A rule is required, e.g. FREQ=WEEKLY;BYDAY=MO,WE,FR.")
    if len(body) > MAX_RULE_LENGTH:
        raise RuleError(f"A rule has at most {MAX_RULE_LENGTH} characters.")
    body = body.strip().upper()
    if body.startswith("RRULE:"):
        body = body[len("RRULE:"):]
    parts: dict[str, str] = {}
    for item in body.split(";"):
        name, eq, value = item.partition("=")
        if not eq or not value:
            raise RuleError(f"{item!r} is not NAME=VALUE.")
        if name == "DTSTART" or name not in PARTS:
            raise RuleError(f"{name} is not supported (allowed: {', '.join(sorted(PARTS))}).")
        if name in parts:
            raise RuleError(f"{name} is given twice.")
        parts[name] = value
    if parts.get("FREQ") not in FREQUENCIES:
        raise RuleError(f"FREQ must be one of {', '.join(FREQUENCIES)}.")
    if "COUNT" in parts and "UNTIL" in parts:
        raise RuleError("COUNT and UNTIL cannot be used together.")
    return parts


def _until(value: str) -> Until:
    """UNTIL's three RFC 5545 forms: a date, a floating date-time, a UTC date-time (`Z`)."""
    for fmt, utc, date_only in (("%Y%m%d", False, True), ("%Y%m%dT%H%M%S", False, False), ("%Y%m%dT%H%M%SZ", True, False)):
        try:
            naive(value, fmt)
        except ValueError:
            continue
        return Until(value, utc, date_only)
    raise RuleError("UNTIL must be YYYYMMDD, YYYYMMDDTHHMMSS or YYYYMMDDTHHMMSSZ.")


def _local_until(until: Until, tz: ZoneInfo) -> datetime:
    if until.date_only:
        return datetime.combine(naive(until.value, "%Y%m%d").date(), time(23, 59, 59))
    if until.utc:
        moment = naive(until.value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        return moment.astimezone(tz).replace(tzinfo=None)
    return naive(until.value, "%Y%m%dT%H%M%S")


def normalize(body: str) -> str:
    """The rule as stored: upper case, without an `RRULE:` prefix, parts in the given order."""
    return ";".join(f"{k}={v}" for k, v in _parts(body).items())


def parse_parts(body: str) -> dict[str, str]:
    return _parts(body)


@lru_cache(maxsize=2048)
def build(body: str, start: datetime, tz_name: str, *, drop_count: bool = False) -> rrule:
    """The dateutil rule for `body` from the naive local `start`, UNTIL read in `tz_name`."""
    parts = _parts(body)
    until = _until(parts.pop("UNTIL")) if "UNTIL" in parts else None
    if drop_count:
        parts.pop("COUNT", None)
    text = "RRULE:" + ";".join(f"{k}={v}" for k, v in parts.items())
    try:
        rule = rrulestr(text, dtstart=start, cache=False)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise RuleError(f"The rule does not parse: {exc}.") from None
    if until is not None:
        rule = rule.replace(until=_local_until(until, zone(tz_name)))
    return rule


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_of(moment: datetime, tz: ZoneInfo) -> datetime:
    """The naive wall-clock time of an aware `moment` in `tz` (whole seconds)."""
    return moment.astimezone(tz).replace(tzinfo=None, microsecond=0)


def place(local: datetime, tz: ZoneInfo) -> datetime:
    """A naive wall-clock time in `tz` as an aware UTC instant: in a gap it moves forward by the
    gap, in a fold it is the first of the two (fold=0)."""
    return local.replace(tzinfo=tz, fold=0).astimezone(UTC)


def exists_locally(local: datetime, tz: ZoneInfo) -> bool:
    """False for a wall time inside a spring-forward gap."""
    return local_of(place(local, tz), tz) == local


def to_text(local: datetime) -> str:
    return local.strftime(LOCAL_FORMAT)


def from_text(value: str) -> datetime:
    return naive(value, LOCAL_FORMAT)


def check(body: str, start: datetime, tz_name: str) -> str:
    """Validate `body` for a series starting at naive local `start`; the normalized rule.
    Raises RuleError (`invalid_rule`, or `rule_never_occurs` when nothing follows `start`
    within five years)."""
    normalized = normalize(body)
    rule = build(normalized, start, tz_name)
    following = rule.after(start, inc=False)
    if following is None or following - start > HORIZON:
        raise RuleError("The rule never occurs again within five years of the due date.", TaskError.RULE_NEVER_OCCURS)
    return normalized


def due_after(body: str, start: datetime, tz_name: str, after: datetime, n: int) -> list[datetime]:
    """The next `n` naive local instances of the due-anchored schedule strictly after `after`."""
    rule = build(body, start, tz_name)
    return list(islice(rule.xafter(after, count=n, inc=False), n))


def completion_next(body: str, wall: time, tz_name: str, completed_local: datetime) -> datetime | None:
    """The next naive local due time of a completion-anchored series finished at
    `completed_local`: the schedule restarted on the day of completion at the series' wall time,
    its first instance after that (COUNT is counted by the caller, by occurrence index)."""
    start = datetime.combine(completed_local.date(), wall)
    rule = build(body, start, tz_name, drop_count=True)
    return rule.after(start, inc=False)


def next_due(
    body: str, start: datetime, tz_name: str, current: datetime, now_local: datetime
) -> tuple[datetime, int] | None:
    """For the due anchor: the first instance after `current` that is after `now_local` too,
    and how many instances it passed over (already in the past). None when the rule ended."""
    rule = build(body, start, tz_name)
    for passed, instance in enumerate(rule.xafter(current, count=MAX_STEPS, inc=False)):
        if instance > now_local:
            return instance, passed
    return None


def first_instances(body: str, anchor: str, start: datetime, tz_name: str, n: int) -> list[datetime]:
    """`start` followed by the next `n - 1` naive local due times (the preview of a new
    series; for the completion anchor, as if each were finished on its due day)."""
    out = [start]
    if anchor == "due":
        out += due_after(body, start, tz_name, start, n - 1)
        count = _parts(body).get("COUNT")
        return out[: int(count)] if count else out
    parts = _parts(body)
    count = int(parts["COUNT"]) if "COUNT" in parts else None
    current = start
    while len(out) < n and (count is None or len(out) < count):
        following = completion_next(body, start.time(), tz_name, current)
        if following is None:
            break
        out.append(following)
        current = following
    return out
