"""State changes of recurring tasks. `tasks.services` calls these inside its transactions:

    set_recurrence(user, task, recurrence)            a rule set, replaced or removed
    after_completion(user, task, completed_at)        -> Step: the next occurrence, the streak
    after_reopen(user, task)                          the untouched next one goes, streak restored
    skip(user, task) -> (task, next)                  advance without points
    stop_series(user, task)                           DELETE ?series=future
    create_next_occurrence(...)                       the ONE place a following occurrence is made

The row lock `tasks.services.complete_task` holds on the task makes a double tap or two devices
queue; the unique (series, index) makes a retry that got past it create nothing either.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from kernel import events
from kernel.api.exceptions import Conflict
from tasks import columns
from tasks.errors import TaskError
from tasks.events import TaskCreated
from tasks.models import Task, TaskSource, TaskStatus
from tasks.recurrence import rules
from tasks.recurrence.models import Anchor, Outcome, RecurrenceSeries, SeriesState, TaskOccurrence
from tasks.reminders import services as reminders

# What an occurrence copies from the one before it.
COPIED_FIELDS = ("title", "description", "type", "priority", "tags", "estimated_duration", "classification",
                 "user_set_fields")


@dataclass
class Step:
    """What finishing (completing or skipping) an occurrence did to its series."""

    next_task: Task | None = None
    series_streak: int | None = None  # None: not a streak-keeping series (or no series)


def occurrence_of(task: Task, *, lock: bool = False) -> TaskOccurrence | None:
    """The task's occurrence row with its series (None for a task that does not repeat), also
    cached on `task` so that its wire shape reads no more."""
    qs = TaskOccurrence.objects.select_related("series").filter(task_id=task.pk)
    if lock:
        qs = qs.select_for_update(of=("self", "series"))
    occurrence = qs.first()
    Task.occurrence.related.set_cached_value(task, occurrence)
    return occurrence


def _field_error(message: str, code: str) -> ValidationError:
    return ValidationError({"recurrence": [ValidationError(message, code=code).detail[0]]})


def set_recurrence(user, task: Task, recurrence: dict | None) -> None:
    """Set (or with None, stop) the rule of `task`'s series, inside the caller's transaction.
    A new rule on an occurrence starts a new series from it; the old one stops, its history kept."""
    current = occurrence_of(task, lock=True)
    if recurrence is None:
        if current is not None and current.series.state == SeriesState.ACTIVE:
            _stop(current.series, "the rule was removed")
        return
    if task.due_date is None:
        raise _field_error("A repeating task needs a dueDate: the first occurrence.", TaskError.RECURRENCE_NEEDS_DUE_DATE)
    tz_name = user.timezone or "UTC"
    tz = rules.zone(tz_name)
    start = rules.local_of(task.due_date, tz)
    try:
        rule = rules.check(recurrence["rule"], start, tz_name)
    except rules.RuleError as exc:
        raise ValidationError({"recurrence": {"rule": [ValidationError(str(exc), code=exc.code).detail[0]]}}) from None
    anchor = recurrence.get("anchor") or Anchor.DUE
    if current is not None and current.series.state == SeriesState.ACTIVE:
        series = current.series
        if (series.rule, series.anchor, series.start_local) == (rule, anchor, rules.to_text(start)):
            return  # the same rule sent back (a PUT of what was read)
        _stop(series, "replaced by a new rule")
    series = RecurrenceSeries.objects.create(
        user=user, rule=rule, anchor=anchor, timezone=tz_name, start_local=rules.to_text(start),
        date_only=task.due_date_only,
    )
    if current is not None:
        current.series, current.index, current.slot_local = series, 0, series.start_local
        current.skipped_before, current.outcome, current.streak_before, current.longest_before = 0, "", None, None
        current.save()
    else:
        TaskOccurrence.objects.create(task=task, series=series, index=0, slot_local=series.start_local)


def _stop(series: RecurrenceSeries, reason: str, state: str = SeriesState.STOPPED) -> None:
    series.state = state
    series.stop_reason = reason[:300]
    series.save(update_fields=["state", "stop_reason", "updated_at"])


def _following(series: RecurrenceSeries, occurrence: TaskOccurrence, finished_at: datetime) -> tuple[datetime, int, int] | None:
    """(slot, index, passed over) of the occurrence after `occurrence`, None when the rule ended.
    Raises RuleError when the stored rule no longer parses."""
    tz = rules.zone(series.timezone)
    slot = rules.from_text(occurrence.slot_local)
    if series.anchor == Anchor.DUE:
        found = rules.next_due(
            series.rule, rules.from_text(series.start_local), series.timezone, slot,
            rules.local_of(timezone.now(), tz),
        )
        if found is None:
            return None
        following, passed = found
        return following, occurrence.index + 1 + passed, passed
    count = rules.parse_parts(series.rule).get("COUNT")
    if count is not None and occurrence.index + 1 >= int(count):
        return None
    wall = rules.from_text(series.start_local).time()
    following = rules.completion_next(series.rule, wall, series.timezone, rules.local_of(finished_at, tz))
    return None if following is None else (following, occurrence.index + 1, 0)


def _advance(user, task: Task, occurrence: TaskOccurrence, outcome: str, finished_at: datetime) -> Step:
    series = occurrence.series
    occurrence.outcome = outcome
    occurrence.streak_before, occurrence.longest_before = series.streak_current, series.streak_longest
    if series.state != SeriesState.ACTIVE:
        _write(series, occurrence, series_changed=False)
        return Step()
    try:
        following = _following(series, occurrence, finished_at)
    except rules.RuleError as exc:
        series.state, series.stop_reason = SeriesState.BROKEN, f"the stored rule no longer parses: {exc}"[:300]
        _write(series, occurrence)
        return Step()
    streak = None
    if series.anchor == Anchor.DUE:
        # On time: finished before the next occurrence fell due (none of it passed over).
        on_time = outcome == Outcome.COMPLETED and (following is None or following[2] == 0)
        series.streak_current = series.streak_current + 1 if on_time else 0
        series.streak_longest = max(series.streak_longest, series.streak_current)
        streak = series.streak_current
    if following is None:
        series.state = SeriesState.ENDED
        series.stop_reason = "the rule has no further occurrence (COUNT or UNTIL)"
        _write(series, occurrence)
        return Step(series_streak=streak)
    slot, index, passed = following
    next_task = create_next_occurrence(user, series, task, index=index, slot=slot, skipped=passed, finished=occurrence)
    return Step(next_task=next_task, series_streak=streak)


SERIES_TABLE, OCCURRENCE_TABLE = RecurrenceSeries._meta.db_table, TaskOccurrence._meta.db_table


def _write(series: RecurrenceSeries, finished: TaskOccurrence | None, claim: list | None = None, *,
           series_changed: bool = True) -> bool:
    """One round trip for what finishing an occurrence changes: the series (streak, state), the
    finished occurrence (outcome, the streak before it), and with `claim` the next occurrence's
    row, claiming (series, index) without aborting the transaction on a duplicate. True when
    the claim was made (or there was none)."""
    now = timezone.now()
    parts, params = [], []
    if series_changed:
        parts.append(f"s AS (UPDATE {SERIES_TABLE} SET"  # noqa: S608 - our table; values are parameters
                     " streak_current = %s, streak_longest = %s, state = %s, "
                     "stop_reason = %s, updated_at = %s WHERE id = %s)")
        params += [series.streak_current, series.streak_longest, series.state, series.stop_reason, now, series.pk]
    if finished is not None:
        parts.append(f"o AS (UPDATE {OCCURRENCE_TABLE} SET"  # noqa: S608 - our table; values are parameters
                     " outcome = %s, streak_before = %s, longest_before = %s, "
                     "updated_at = %s WHERE id = %s)")
        params += [finished.outcome, finished.streak_before, finished.longest_before, now, finished.pk]
    if claim is not None:
        sql = (f"INSERT INTO {OCCURRENCE_TABLE} (id,"  # noqa: S608 - our table; values are parameters
               " created_at, updated_at, task_id, series_id, \"index\", "
               "slot_local, skipped_before, outcome) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, '') "
               "ON CONFLICT (series_id, \"index\") DO NOTHING")
        params += claim
    else:
        sql = "SELECT 1"
    if parts:
        sql = "WITH " + ", ".join(parts) + " " + sql
    with connection.cursor() as cursor:
        cursor.execute(sql, params)  # the table names are ours, every value a parameter
        return claim is None or cursor.rowcount == 1


def create_next_occurrence(user, series: RecurrenceSeries, previous: Task, *, index: int, slot: datetime,
                           skipped: int = 0, finished: TaskOccurrence | None = None) -> Task:
    """The occurrence `index` of `series` (naive local `slot`), copied from `previous`, in the
    caller's transaction; the existing one when it is already there. Whatever else an occurrence
    carries (reminders, ...) is copied here. `finished` (the occurrence just completed or
    skipped) and the series are written in the same round trip."""
    task = Task(user=user, status=TaskStatus.PENDING, source=TaskSource.MANUAL,
                due_date=rules.place(slot, rules.zone(series.timezone)), due_date_only=series.date_only)
    for name in COPIED_FIELDS:
        setattr(task, name, getattr(previous, name))
    task.save(force_insert=True)
    # The occurrence's creation time is the task's last write: `after_reopen` knows it untouched.
    occurrence = TaskOccurrence(task=task, series=series, index=index, slot_local=rules.to_text(slot),
                                skipped_before=skipped, created_at=task.updated_at, updated_at=task.updated_at)
    claim = [occurrence.pk, task.updated_at, task.updated_at, task.pk, series.pk, index, occurrence.slot_local, skipped]
    if not _write(series, finished, claim, series_changed=finished is not None):
        Task.objects.filter(pk=task.pk).delete()  # a duplicate (series, index): the existing one stands
        return TaskOccurrence.objects.select_related("task").get(series=series, index=index).task
    # What the new task's wire shape reads, known here: its occurrence, and no other app's
    # columns yet (nothing points at a task created in this transaction).
    Task.occurrence.related.set_cached_value(task, occurrence)
    for name in columns.names():
        setattr(task, name, None)
    reminders.copy_reminders(previous, task)
    events.emit(TaskCreated(user=user, task=task, understand=False))
    return task


def after_completion(user, task: Task, completed_at: datetime) -> Step:
    """Inside `complete_task`'s transaction, with the task row locked and completed. The task's
    row lock is what serializes completions of one occurrence; its occurrence and series come
    with it when it was fetched with `select_related("occurrence__series")`."""
    cache = Task.occurrence.related
    occurrence = cache.get_cached_value(task) if cache.is_cached(task) else occurrence_of(task, lock=True)
    if occurrence is None:
        return Step()
    return _advance(user, task, occurrence, Outcome.COMPLETED, completed_at)


def after_reopen(user, task: Task) -> None:
    """Inside `reopen_task`'s transaction: the streak as it was before the completion, and the
    occurrence the completion created removed if nobody touched it since."""
    occurrence = occurrence_of(task, lock=True)
    if occurrence is None or occurrence.outcome != Outcome.COMPLETED:
        return
    series = occurrence.series
    successor = (
        TaskOccurrence.objects.select_related("task").filter(series=series, index__gt=occurrence.index)
        .order_by("index").first()
    )
    if successor is not None and _untouched(successor):
        Task.objects.filter(pk=successor.task_id).delete()
        if series.state == SeriesState.ENDED:
            series.state, series.stop_reason = SeriesState.ACTIVE, ""
    elif successor is None and series.state == SeriesState.ENDED:
        series.state, series.stop_reason = SeriesState.ACTIVE, ""
    if occurrence.streak_before is not None:
        series.streak_current, series.streak_longest = occurrence.streak_before, occurrence.longest_before or 0
    series.save(update_fields=["streak_current", "streak_longest", "state", "stop_reason", "updated_at"])
    occurrence.outcome, occurrence.streak_before, occurrence.longest_before = "", None, None
    occurrence.save(update_fields=["outcome", "streak_before", "longest_before", "updated_at"])


def _untouched(occurrence: TaskOccurrence) -> bool:
    """Still as created: pending, and its row not written since the occurrence was made."""
    task = occurrence.task
    return task.status == TaskStatus.PENDING and task.updated_at == occurrence.created_at


def skip(user, task: Task) -> tuple[Task, Task | None]:
    """Advance the series past an open occurrence without points: it is cancelled, the series
    streak resets, the next occurrence is created."""
    with transaction.atomic():
        locked = Task.objects.select_for_update().get(pk=task.pk, user=user)
        occurrence = occurrence_of(locked, lock=True)
        if occurrence is None:
            raise Conflict("This task does not repeat.", errors={"recurrence": ["This task does not repeat."]})
        if locked.status in (TaskStatus.COMPLETED, TaskStatus.CANCELLED) or occurrence.outcome:
            raise Conflict("Only an open occurrence can be skipped.",
                           errors={"status": [f"The occurrence is {locked.status}."]})
        if occurrence.series.state != SeriesState.ACTIVE:
            raise Conflict("The series has stopped.", errors={"recurrence": ["The series has stopped."]})
        locked.status = TaskStatus.CANCELLED
        locked.save(update_fields=["status", "updated_at"])
        step = _advance(user, locked, occurrence, Outcome.SKIPPED, timezone.now())
    return locked, step.next_task


def stop_series(user, task: Task) -> None:
    """DELETE ?series=future: the series stops and its open occurrences from this one on go;
    the finished ones stay as history."""
    with transaction.atomic():
        occurrence = occurrence_of(task, lock=True)
        if occurrence is None:
            return
        if occurrence.series.state == SeriesState.ACTIVE:
            _stop(occurrence.series, "stopped by the user")
        open_ids = TaskOccurrence.objects.filter(
            series=occurrence.series, index__gt=occurrence.index, outcome=""
        ).values("task_id")
        Task.objects.filter(user=user, pk__in=open_ids).exclude(status=TaskStatus.COMPLETED).delete()


def advance_deleted(user, task: Task) -> Task | None:
    """A plain DELETE of an open occurrence removes that one only: the series moves on to the next
    (as a skip), which is created before the row goes."""
    occurrence = occurrence_of(task, lock=True)
    if occurrence is None or occurrence.outcome or occurrence.series.state != SeriesState.ACTIVE:
        return None
    if task.status in (TaskStatus.COMPLETED, TaskStatus.CANCELLED):
        return None
    return _advance(user, task, occurrence, Outcome.SKIPPED, timezone.now()).next_task
