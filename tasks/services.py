"""Every state change of a task (DESIGN.md §2: views call these, never `.save()` themselves).

    create_task(user, **fields) -> Task                              emits task.created
    update_task(user, task, fields) -> (Task, effects | None)        status changes go through
                                                                     complete_task / reopen_task
    complete_task(user, task, ...) -> CompletionResult               emits task.completed once
    reopen_task(user, task) -> (Task, effects)                       emits task.reopened
    delete_task(user, task)                                          its challenges go with it
    understand_task(task_id)                                         fills `classification`
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from deepiri import events
from tasks.effects import merge_effects, zero_effects
from tasks.events import TASK_COMPLETED, TASK_CREATED, TASK_REOPENED
from tasks.models import Task, TaskStatus, TaskType

logger = logging.getLogger(__name__)

# Fields a client (or an import) may set; everything else on Task is server-set.
WRITABLE_FIELDS = frozenset(
    {"title", "description", "type", "status", "priority", "due_date", "due_date_only", "estimated_duration",
     "tags", "source", "source_id", "source_url"}
)
# What task understanding may fill in when the user did not set it.
UNDERSTANDING_FIELDS = frozenset({"type"})


@dataclass
class CompletionResult:
    task: Task
    effects: dict
    completed_now: bool


def _check_fields(fields: dict) -> None:
    unknown = set(fields) - WRITABLE_FIELDS
    if unknown:
        raise TypeError(f"not writable task fields: {sorted(unknown)}")


def efficiency_of(estimated: int | None, actual: int | None) -> float | None:
    """estimated / actual x 100, clamped to 0..100; None when either is unknown."""
    if not estimated or not actual:
        return None
    return round(max(0.0, min(100.0, estimated / actual * 100)), 2)


def create_task(user, *, understand: bool = True, emit: bool = True, **fields) -> Task:
    """Create a task. `status: completed` completes it through `complete_task`.
    Task understanding runs after commit (Celery) unless `understand=False`."""
    _check_fields(fields)
    status = fields.pop("status", TaskStatus.PENDING) or TaskStatus.PENDING
    with transaction.atomic():
        task = Task(user=user, **fields)
        task.user_set_fields = sorted(set(fields) & UNDERSTANDING_FIELDS)
        if status != TaskStatus.COMPLETED:
            task.status = status
        task.full_clean(exclude=["user", "challenge"], validate_constraints=False)
        task.save(force_insert=True)
        if emit:
            events.emit(TASK_CREATED, user=user, task=task)
        if status == TaskStatus.COMPLETED:
            complete_task(user, task, source="create")
            task.refresh_from_db()
        if understand:
            task_id = task.pk
            transaction.on_commit(lambda: _dispatch_understanding(task_id))
    return task


def _dispatch_understanding(task_id: str) -> None:
    from tasks.tasks import understand_task as understand_job

    try:
        understand_job.delay(task_id)
    except Exception:  # noqa: BLE001 - the broker being down must not fail the request
        logger.warning("could not enqueue understand_task for %s", task_id, exc_info=True)


def update_task(user, task: Task, fields: dict) -> tuple[Task, dict | None]:
    """Apply a client's changes. Moving to `completed` completes (with its effects); moving a
    completed task to another status reopens it first (the award is reversed)."""
    _check_fields(fields)
    fields = dict(fields)
    status = fields.pop("status", None)
    effects = None
    with transaction.atomic():
        locked = Task.objects.select_for_update().get(pk=task.pk, user=user)
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.user_set_fields = sorted(set(locked.user_set_fields) | (set(fields) & UNDERSTANDING_FIELDS))
        if fields:
            locked.full_clean(exclude=["user", "challenge"], validate_constraints=False)
            locked.save(update_fields=[*fields, "user_set_fields", "updated_at"])
        if status and status != locked.status:
            if status == TaskStatus.COMPLETED:
                result = complete_task(user, locked, source="update")
                locked, effects = result.task, result.effects
            else:
                if locked.status == TaskStatus.COMPLETED:
                    locked, effects = reopen_task(user, locked)
                locked.status = status
                locked.save(update_fields=["status", "updated_at"])
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
        locked = Task.objects.select_for_update().get(pk=task.pk, user=user)
        if locked.status == TaskStatus.COMPLETED:
            return CompletionResult(locked, zero_effects(), False)
        locked.status = TaskStatus.COMPLETED
        locked.completed_at = completed_at or timezone.now()
        locked.actual_duration = actual_duration
        locked.efficiency = efficiency_of(locked.estimated_duration, actual_duration)
        locked.completion_notes = notes or ""
        locked.save(
            update_fields=["status", "completed_at", "actual_duration", "efficiency", "completion_notes", "updated_at"]
        )
        results = events.emit(
            TASK_COMPLETED,
            user=user,
            task=locked,
            completed_at=locked.completed_at,
            actual_duration=locked.actual_duration,
            efficiency=locked.efficiency,
            source=source,
        )
        return CompletionResult(locked, merge_effects(results), True)


def reopen_task(user, task: Task) -> tuple[Task, dict]:
    """Undo a completion (idempotent: a task that is not completed comes back unchanged)."""
    with transaction.atomic():
        locked = Task.objects.select_for_update().get(pk=task.pk, user=user)
        if locked.status != TaskStatus.COMPLETED:
            return locked, zero_effects()
        previous = locked.completed_at
        locked.status = TaskStatus.PENDING
        locked.completed_at = None
        locked.actual_duration = None
        locked.efficiency = None
        locked.completion_notes = ""
        locked.save(
            update_fields=["status", "completed_at", "actual_duration", "efficiency", "completion_notes", "updated_at"]
        )
        results = events.emit(TASK_REOPENED, user=user, task=locked, previous_completed_at=previous)
        return locked, merge_effects(results)


def delete_task(user, task: Task) -> None:
    with transaction.atomic():
        Task.objects.filter(pk=task.pk, user=user).delete()  # challenges cascade


def understand_task(task_id: str) -> Task | None:
    """Classify a task (AI service, else the rule-based classifier) into `classification`; the
    task's `type` follows it only while the user has not chosen one."""
    from challenges import fallback
    from challenges.ai_client import AIClient, AIServiceError

    task = Task.objects.filter(pk=task_id).first()
    if task is None:
        return None
    try:
        classification = AIClient().classify_task(task.title, task.description)
    except AIServiceError as exc:
        logger.info("task understanding for %s uses the fallback: %s", task_id, exc.reason)
        classification = fallback.classify_task(task.title, task.description, task.estimated_duration, task.priority)
    with transaction.atomic():
        locked = Task.objects.select_for_update().filter(pk=task_id).first()
        if locked is None:
            return None
        locked.classification = classification.as_dict()
        update = ["classification", "updated_at"]
        if (
            "type" not in locked.user_set_fields
            and locked.type == TaskType.MANUAL
            and classification.type in TaskType.values
        ):
            locked.type = classification.type
            update.append("type")
        locked.save(update_fields=update)
    return locked
