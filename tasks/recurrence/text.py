"""A rule as an English sentence ("Every week on Monday, Wednesday and Friday").

Written here rather than taken from a library: the Python ones found turn text into rules
(the opposite way) or are unmaintained ports of rrule.js's `toText`; the subset the API accepts
is small enough to word completely in one page.
"""

from __future__ import annotations

from tasks.recurrence.rules import naive, parse_parts

DAYS = {"MO": "Monday", "TU": "Tuesday", "WE": "Wednesday", "TH": "Thursday", "FR": "Friday", "SA": "Saturday",
        "SU": "Sunday"}
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
UNITS = {"DAILY": "day", "WEEKLY": "week", "MONTHLY": "month", "YEARLY": "year"}
WEEKDAYS = {"MO", "TU", "WE", "TH", "FR"}


def _ordinal(n: int) -> str:
    if n == -1:
        return "last"
    if n < 0:
        return f"{_ordinal(-n)} to last"
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _day(token: str) -> str:
    code, prefix = token[-2:], token[:-2]
    name = DAYS.get(code, code)
    return f"the {_ordinal(int(prefix))} {name}" if prefix not in ("", "+") else name


def _month_day(token: str) -> str:
    n = int(token)
    return "the last day" if n == -1 else f"the {_ordinal(n)} day" if n < 0 else f"day {n}"


def describe(body: str, anchor: str = "due") -> str:
    parts = parse_parts(body)
    freq = parts["FREQ"]
    interval = int(parts.get("INTERVAL", "1") or 1)
    unit = UNITS[freq]
    days = parts["BYDAY"].split(",") if "BYDAY" in parts else []
    if freq in ("DAILY", "WEEKLY") and interval == 1 and set(days) == WEEKDAYS and len(days) == 5:
        text = "Every weekday"
    else:
        text = f"Every {unit}" if interval == 1 else f"Every {interval} {unit}s"
        if "BYMONTH" in parts:
            text += " in " + _join([MONTHS[int(m) - 1] for m in parts["BYMONTH"].split(",")])
        on = []
        if days:
            on.append(_join([_day(d) for d in days]))
        if "BYMONTHDAY" in parts:
            on.append(_join([_month_day(d) for d in parts["BYMONTHDAY"].split(",")]))
        if on:
            text += " on " + " and ".join(on)
        if "BYSETPOS" in parts:
            text += " (the " + _join([_ordinal(int(p)) for p in parts["BYSETPOS"].split(",")]) + " of those)"
    if anchor == "completion":
        text += " after completion"
    if "COUNT" in parts:
        count = int(parts["COUNT"])
        text += ", once" if count == 1 else f", {count} times"
    if "UNTIL" in parts:
        value = parts["UNTIL"]
        day = naive(value[:8], "%Y%m%d").date()
        text += f", until {day.isoformat()}"
    return text
