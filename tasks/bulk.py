"""Many task writes at once (`POST /api/tasks` with an array, `POST /api/tasks/bulk-update`).

    create_many(user, items) -> [Task | error]          one INSERT for the batch; task.created
                                                        per task, as a single create emits it
    update_many(user, ids, fields) -> {id: (Task, Effects | None)}
                                                        one locking SELECT and one UPDATE for
                                                        the batch; completions and reopenings go
                                                        through tasks.services, one by one

Per item, not all-or-nothing: a client syncing what it queued offline wants the valid items in
and the invalid ones named, not to bisect its batch. Each created or changed task has exactly
the effects of its single-item twin: the same validation, the same `task.created` (so the same
understanding job), and a completion or reopening through the very service a single write uses
(its award, its event, its effects). What is batched is only the SQL: the rows in one statement,
and the outbox rows the subscribers queue in another (`kernel.jobs.batched_outbox`).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from gamification import services as gamification
from kernel import events, jobs
from kernel.api.exceptions import Conflict
from tasks import services
from tasks.events import TaskCreated, TaskUpdated
from tasks.models import Task, TaskSource, TaskStatus
from tasks.reminders import services as reminders

MAX_ITEMS = 100


def duplicate_source() -> Conflict:
    """The 409 a single create answers for a (source, sourceId) the user already has."""
    return Conflict(
        "You already have a task from this source with this sourceId.",
        errors={"metadata": {"source_id": ["A task with this source and sourceId already exists."]}},
    )


def _source_key(fields: dict) -> tuple[str, str] | None:
    source_id = fields.get("source_id") or ""
    return (fields.get("source") or TaskSource.MANUAL, source_id) if source_id else None


def _taken_sources(user, keys: set) -> set:
    if not keys:
        return set()
    match = Q()
    for source, source_id in keys:
        match |= Q(source=source, source_id=source_id)
    return set(Task.objects.filter(user=user).filter(match).values_list("source", "source_id"))


def create_many(user, items: list[dict]) -> list[Task | Exception]:
    """Create each item (service fields, as `TaskSerializer.to_service_fields()` gives them);
    the answer holds, per item in order, its Task or the error it gets (a Django
    ValidationError, or a 409 Conflict for a (source, sourceId) taken before or earlier in the
    batch). Valid items are created even when others are not."""
    results: list[Task | Exception | None] = [None] * len(items)
    with transaction.atomic():
        taken = _taken_sources(user, {key for key in map(_source_key, items) if key})
        rows: list[tuple[int, Task, str]] = []
        repeating: list[int] = []
        for index, fields in enumerate(items):
            key = _source_key(fields)
            if key in taken:
                results[index] = duplicate_source()
                continue
            if key:
                taken.add(key)
            if fields.get("recurrence"):
                repeating.append(index)  # a series starts with it: the single create, after the batch
                continue
            task, status = _build(user, fields)
            try:
                # the id is fresh and the (source, sourceId) checked above: no per-row query
                task.full_clean(exclude=["user"], validate_unique=False, validate_constraints=False)
            except DjangoValidationError as exc:
                results[index] = exc
                continue
            rows.append((index, task, status))
        try:
            with transaction.atomic():
                Task.objects.bulk_create([task for _, task, _ in rows])
        except IntegrityError:
            # A concurrent writer took a (source, sourceId) since the check: item by item, where
            # the single create's own check answers the loser with its 409.
            for index, _, _ in rows:
                try:
                    results[index] = services.create_task(user, **items[index])
                except Conflict as exc:
                    results[index] = exc
            return results
        with jobs.batched_outbox():
            for _, task, _ in rows:
                reminders.add_default_reminder(user, task)
                events.emit(TaskCreated(user=user, task=task, understand=True))
        for index, task, status in rows:
            if status == TaskStatus.COMPLETED:  # as create_task: created, then completed
                services.complete_task(user, task, source="create")
            results[index] = task
        for index in repeating:
            try:
                with transaction.atomic():
                    results[index] = services.create_task(user, **items[index])
            except (Conflict, DjangoValidationError) as exc:
                results[index] = exc
    return results


def _build(user, fields: dict) -> tuple[Task, str]:
    """The unsaved task `create_task` would insert, and the status it asked for."""
    fields = dict(fields)
    fields.pop("recurrence", None)  # None: nothing to repeat
    status = fields.pop("status", TaskStatus.PENDING) or TaskStatus.PENDING
    task = Task(user=user, **fields)
    task.user_set_fields = sorted(set(fields) & services.UNDERSTANDING_FIELDS)
    if status != TaskStatus.COMPLETED:
        task.status = status
    return task, status


def _moves_completion(task: Task, status: str | None) -> bool:
    return bool(status) and status != task.status and TaskStatus.COMPLETED in (status, task.status)


def update_many(user, ids: list[str], fields: dict) -> dict[str, tuple[Task, gamification.Effects | None]]:
    """Apply `fields` (status, priority, tags; validated) to each of the user's tasks named in
    `ids`; an id that is not one of theirs is left out of the answer and nothing touches it.
    A status change that completes or reopens goes through `services.update_task`, as a PATCH
    does (the award or its reversal, the event, the effects); the rest is one UPDATE."""
    status = fields.get("status")
    plain = {name: value for name, value in fields.items() if name != "status"}
    done: dict[str, tuple[Task, gamification.Effects | None]] = {}
    with transaction.atomic():
        # locked in id order, so two overlapping batches queue up instead of deadlocking
        locked = Task.objects.select_for_update().filter(user=user, pk__in=ids).order_by("pk")
        now = timezone.now()
        batch = []
        for task in locked:
            if _moves_completion(task, status):
                done[task.pk] = services.update_task(user, task, fields)
                continue
            for name, value in plain.items():
                setattr(task, name, value)
            if status:
                task.status = status
            task.updated_at = now
            batch.append(task)
            done[task.pk] = (task, None)
        if batch:
            Task.objects.bulk_update(batch, [*plain, *(["status"] if status else []), "updated_at"])
            changed = tuple(fields)
            for task in batch:
                if status:
                    reminders.sync_task(task, user=user)  # a cancelled task's reminders stop
                events.emit(TaskUpdated(user=user, task=task, fields=changed))
    return done
