"""Every state change of a task (DESIGN.md §2: views call these, never `.save()` themselves).

    create_task(user, **fields) -> Task                              emits task.created
    update_task(user, task, fields) -> (Task, Effects | None)        status changes go through
                                                                     complete_task / reopen_task
    complete_task(user, task, ...) -> CompletionResult               emits task.completed once
    reopen_task(user, task) -> (Task, Effects)                       emits task.reopened
    delete_task(user, task, series=None)                             emits task.deleted; its challenges and
                                                                     reminders go with it; series="future"
                                                                     stops its series
    set_classification(task_id, classification)                      what task understanding found

Completing and reopening call gamification directly, inside the same transaction, for the
`Effects` the response shows; the events are for reactions. Every change of the due date or the
status calls `tasks.reminders.services.sync_task` in the same transaction (reminders follow).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from gamification import services as gamification
from kernel import events
from kernel.api.exceptions import Conflict
from tasks.events import TaskCompleted, TaskCreated, TaskDeleted, TaskReopened, TaskUpdated
from tasks.models import Task, TaskStatus, TaskType
from tasks.recurrence import services as recurrence_services
from tasks.reminders import services as reminders

# Fields a client (or an import) may set; everything else on Task is server-set.
WRITABLE_FIELDS = frozenset(
    {"title", "description", "type", "status", "priority", "due_date", "due_date_only", "estimated_duration",
     "tags", "source", "source_id", "source_url"}
)
# What task understanding (challenges' reaction to a created task) may fill in when the user did not set it.
UNDERSTANDING_FIELDS = frozenset({"type"})


@dataclass
class CompletionResult:
    task: Task
    effects: gamification.Effects
    completed_now: bool
    # The occurrence this completion created, for a repeating task (API.md `effects.nextOccurrence`).
    next_occurrence: Task | None = None


def _check_fields(fields: dict) -> None:
    unknown = set(fields) - WRITABLE_FIELDS
    if unknown:
        raise TypeError(f"not writable task fields: {sorted(unknown)}")


def _duplicate_source() -> Conflict:
    return Conflict(
        "You already have a task from this source with this sourceId.",
        errors={"metadata": {"source_id": ["A task with this source and sourceId already exists."]}},
    )


def _save_unique(task: Task, **save_kwargs) -> None:
    """Save, answering a duplicate (user, source, sourceId) with 409 rather than a 500: checked
    first for a clear error, and the constraint still decides a race (in a savepoint, so the
    caller's transaction stays usable)."""
    if task.source_id and (
        Task.objects.filter(user_id=task.user_id, source=task.source, source_id=task.source_id)
        .exclude(pk=task.pk)
        .exists()
    ):
        raise _duplicate_source()
    try:
        with transaction.atomic():
            task.save(**save_kwargs)
    except IntegrityError as exc:
        if "source" in str(exc):
            raise _duplicate_source() from exc
        raise


def efficiency_of(estimated: int | None, actual: int | None) -> float | None:
    """estimated / actual x 100, clamped to 0..100; None when either is unknown."""
    if not estimated or not actual:
        return None
    return round(max(0.0, min(100.0, estimated / actual * 100)), 2)


def create_task(user, *, understand: bool = True, emit: bool = True, recurrence: dict | None = None,
                **fields) -> Task:
    """Create a task. `status: completed` completes it through `complete_task`.
    `task.created` says whether to understand it (challenges does, after commit, unless
    `understand=False`); with `emit=False` (bulk imports) nothing reacts, understanding included.
    `recurrence` ({rule, anchor}) makes it occurrence 0 of a new series."""
    _check_fields(fields)
    status = fields.pop("status", TaskStatus.PENDING) or TaskStatus.PENDING
    with transaction.atomic():
        task = Task(user=user, **fields)
        task.user_set_fields = sorted(set(fields) & UNDERSTANDING_FIELDS)
        if status != TaskStatus.COMPLETED:
            task.status = status
        task.full_clean(exclude=["user"], validate_constraints=False)
        _save_unique(task, force_insert=True)
        reminders.add_default_reminder(user, task)
        if recurrence:
            recurrence_services.set_recurrence(user, task, recurrence)
        if emit:
            events.emit(TaskCreated(user=user, task=task, understand=understand))
        if status == TaskStatus.COMPLETED:
            complete_task(user, task, source="create")
            task.refresh_from_db()
    return task


def update_task(user, task: Task, fields: dict) -> tuple[Task, gamification.Effects | None]:
    """Apply a client's changes. Moving to `completed` completes (with its effects); moving a
    completed task to another status reopens it first (the award is reversed). `recurrence`
    sets a new rule (a new series from this task) or, None, stops the series."""
    fields = dict(fields)
    has_rule, rule = "recurrence" in fields, fields.pop("recurrence", None)
    _check_fields(fields)
    status = fields.pop("status", None)
    effects = None
    completed = False
    with transaction.atomic():
        locked = Task.objects.select_for_update().get(pk=task.pk, user=user)
        had_due_date = locked.due_date is not None
        due_before = (locked.due_date, locked.due_date_only)
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.user_set_fields = sorted(set(locked.user_set_fields) | (set(fields) & UNDERSTANDING_FIELDS))
        if fields:
            locked.full_clean(exclude=["user"], validate_constraints=False)
            moved = (locked.due_date, locked.due_date_only) != due_before
            if moved:  # calendar feeds show the new date as a newer version of the same event
                locked.due_revision += 1
            _save_unique(locked, update_fields=[*fields, "user_set_fields", "updated_at", *(["due_revision"] if moved else [])])
        if has_rule:
            recurrence_services.set_recurrence(user, locked, rule)
        status_changed = bool(status) and status != locked.status
        if status_changed:
            if status == TaskStatus.COMPLETED:
                result = complete_task(user, locked, source="update")
                locked, effects, completed = result.task, result.effects, result.completed_now
            else:
                if locked.status == TaskStatus.COMPLETED:
                    locked, effects = reopen_task(user, locked, source="update")
                locked.status = status
                locked.save(update_fields=["status", "updated_at"])
        if {"due_date", "due_date_only"} & set(fields) or status:
            # Reminders follow the due date and the status (cancelled when closed, re-armed when
            # their new time is ahead).
            reminders.sync_task(locked, user=user)
            if not had_due_date:
                reminders.add_default_reminder(user, locked)
        changed = (*fields, *(["recurrence"] if has_rule else []), *(["status"] if status_changed else []))
        if changed and not completed:
            events.emit(TaskUpdated(user=user, task=locked, fields=tuple(changed)))
    return locked, effects


def complete_task(
    user,
    task: Task,
    *,
    actual_duration: int | None = None,
    notes: str | None = None,
    completed_at: datetime | None = None,
    source: str = "api",
) -> CompletionResult:
    """Complete once. The row lock makes concurrent completions queue up; the second sees the
    task completed and returns it unchanged, with zero effects and no event."""
    with transaction.atomic():
        # With its occurrence (a repeating task's series) in the same query; only the task is locked.
        locked = (
            Task.objects.select_for_update(of=("self",)).select_related("occurrence__series")
            .get(pk=task.pk, user=user)
        )
        if locked.status == TaskStatus.COMPLETED:
            return CompletionResult(locked, gamification.Effects.none(), False)
        locked.status = TaskStatus.COMPLETED
        locked.completed_at = completed_at or timezone.now()
        locked.actual_duration = actual_duration
        locked.efficiency = efficiency_of(locked.estimated_duration, actual_duration)
        locked.completion_notes = notes or ""
        locked.save(
            update_fields=["status", "completed_at", "actual_duration", "efficiency", "completion_notes", "updated_at"]
        )
        reminders.sync_task(locked, user=user)
        step = recurrence_services.after_completion(user, locked, locked.completed_at)
        events.emit(
            TaskCompleted(
                user=user,
                task=locked,
                completed_at=locked.completed_at,
                actual_duration=locked.actual_duration,
                efficiency=locked.efficiency,
                source=source,
            )
        )
        effects = gamification.record_task_completion(
            user,
            locked,
            completed_at=locked.completed_at,
            actual_duration=locked.actual_duration,
            efficiency=locked.efficiency,
            series_streak=step.series_streak,
        )
        return CompletionResult(locked, effects, True, step.next_task)


def reopen_task(user, task: Task, *, source: str = "api") -> tuple[Task, gamification.Effects]:
    """Undo a completion (idempotent: a task that is not completed comes back unchanged)."""
    with transaction.atomic():
        locked = Task.objects.select_for_update().get(pk=task.pk, user=user)
        if locked.status != TaskStatus.COMPLETED:
            return locked, gamification.Effects.none()
        previous = locked.completed_at
        locked.status = TaskStatus.PENDING
        locked.completed_at = None
        locked.actual_duration = None
        locked.efficiency = None
        locked.completion_notes = ""
        locked.save(
            update_fields=["status", "completed_at", "actual_duration", "efficiency", "completion_notes", "updated_at"]
        )
        reminders.sync_task(locked, user=user)
        recurrence_services.after_reopen(user, locked)
        events.emit(TaskReopened(user=user, task=locked, previous_completed_at=previous, source=source))
        return locked, gamification.record_task_reopen(user, locked, previous_completed_at=previous)


def delete_task(user, task: Task, *, series: str | None = None) -> None:
    """Delete one task. An open occurrence of a repeating task: `series="future"` stops the series
    (its finished occurrences stay), else the series moves on to the next occurrence, as a skip."""
    with transaction.atomic():
        locked = Task.objects.select_for_update().filter(pk=task.pk, user=user).first()
        if locked is None:
            return
        if series == "future":
            recurrence_services.stop_series(user, locked)
        else:
            recurrence_services.advance_deleted(user, locked)
        events.emit(TaskDeleted(user=user, task=locked))
        locked.delete()  # challenges and reminders cascade


def set_classification(task_id: str, classification: dict) -> Task | None:
    """Store what task understanding found; the task's `type` follows its `type` only while the
    user has not chosen one. None when the task is gone."""
    with transaction.atomic():
        locked = Task.objects.select_for_update().filter(pk=task_id).first()
        if locked is None:
            return None
        locked.classification = classification
        update = ["classification", "updated_at"]
        suggested = classification.get("type")
        if "type" not in locked.user_set_fields and locked.type == TaskType.MANUAL and suggested in TaskType.values:
            locked.type = suggested
            update.append("type")
        locked.save(update_fields=update)
    return locked
