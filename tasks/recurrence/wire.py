"""The recurrence fields of a task's wire shape, from the columns a task row reads through its
occurrence (one LEFT JOIN pair in the list query):

    recurrence      {rule, anchor, timezone, text, next[5]} while the series is active, else null
    seriesId        the series, kept on finished occurrences too (history)
    occurrenceIndex 0 for the task the rule was set on
    seriesStreak    {current, longest}; null for completion-anchored series
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from kernel.api.times import iso_utc
from tasks.models import Task
from tasks.recurrence import rules
from tasks.recurrence.models import Anchor, SeriesState, TaskOccurrence
from tasks.recurrence.text import describe

NEXT_COUNT = 5

# Names as `.values()` reads them from a task row.
FIELDS = (
    "occurrence__series_id", "occurrence__index", "occurrence__slot_local", "occurrence__outcome",
    "occurrence__series__rule", "occurrence__series__anchor", "occurrence__series__timezone",
    "occurrence__series__start_local", "occurrence__series__state", "occurrence__series__streak_current",
    "occurrence__series__streak_longest",
)
NONE = {"recurrence": None, "seriesId": None, "occurrenceIndex": None, "seriesStreak": None}


def next_due_times(rule: str, anchor: str, start: str, tz_name: str, slot: str, now: datetime) -> list[datetime]:
    """The next due times after the occurrence at `slot` (UTC instants): the schedule's for the
    due anchor, for the completion anchor as if this one were completed now."""
    tz = rules.zone(tz_name)
    if anchor == Anchor.DUE:
        local = rules.due_after(rule, rules.from_text(start), tz_name, rules.from_text(slot), NEXT_COUNT)
    else:
        first = rules.completion_next(rule, rules.from_text(start).time(), tz_name, rules.local_of(now, tz))
        local = [] if first is None else rules.first_instances(
            ";".join(f"{k}={v}" for k, v in rules.parse_parts(rule).items() if k != "COUNT"), anchor, first, tz_name,
            NEXT_COUNT,
        )
    return [rules.place(value, tz) for value in local]


def fields(row: dict, now: datetime | None = None) -> dict:
    """The wire (camelCase) recurrence fields of a row holding FIELDS."""
    series_id = row.get("occurrence__series_id")
    if series_id is None:
        return NONE
    anchor = row["occurrence__series__anchor"]
    streak = None
    recurrence = None
    upcoming: list[datetime] = []
    if row["occurrence__series__state"] == SeriesState.ACTIVE:
        rule, tz_name = row["occurrence__series__rule"], row["occurrence__series__timezone"]
        try:
            upcoming = next_due_times(rule, anchor, row["occurrence__series__start_local"], tz_name,
                                      row["occurrence__slot_local"], now or timezone.now())
            text = describe(rule, anchor)
        except (rules.RuleError, ValueError, KeyError, IndexError):
            text = None
        recurrence = {"rule": rule, "anchor": anchor, "timezone": tz_name, "text": text,
                      "next": [iso_utc(value) for value in upcoming]}
    if anchor == Anchor.DUE:
        current = row["occurrence__series__streak_current"]
        # An open occurrence whose successor already fell due is missed: the streak is over,
        # though nothing is stored until the series moves on (reads never write).
        if not row["occurrence__outcome"] and upcoming and upcoming[0] <= (now or timezone.now()):
            current = 0
        streak = {"current": current, "longest": row["occurrence__series__streak_longest"]}
    return {"recurrence": recurrence, "seriesId": series_id, "occurrenceIndex": row["occurrence__index"],
            "seriesStreak": streak}


def _row(occurrence: TaskOccurrence) -> dict:
    series = occurrence.series
    return {
        "occurrence__series_id": series.pk, "occurrence__index": occurrence.index,
        "occurrence__slot_local": occurrence.slot_local, "occurrence__outcome": occurrence.outcome,
        "occurrence__series__rule": series.rule, "occurrence__series__anchor": series.anchor,
        "occurrence__series__timezone": series.timezone, "occurrence__series__start_local": series.start_local,
        "occurrence__series__state": series.state, "occurrence__series__streak_current": series.streak_current,
        "occurrence__series__streak_longest": series.streak_longest,
    }


def rows_for(tasks) -> dict[str, dict]:
    """{task id: FIELDS} for task instances that are occurrences: from the occurrence cached on
    the instance (`select_related("occurrence__series")`, or set by the recurrence services),
    else one query for the rest."""
    out, unknown = {}, []
    cache = Task.occurrence.related
    for task in tasks:
        if cache.is_cached(task):
            occurrence = cache.get_cached_value(task)
            if occurrence is not None:
                out[task.pk] = _row(occurrence)
        else:
            unknown.append(task.pk)
    if unknown:
        for occurrence in TaskOccurrence.objects.filter(task_id__in=unknown).select_related("series"):
            out[occurrence.task_id] = _row(occurrence)
    return out
