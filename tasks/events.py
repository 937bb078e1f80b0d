"""Domain events emitted by the tasks app (see kernel.events).

Gamification is not a subscriber: completing or reopening a task calls it directly for the
effects. These events are for reactions (analytics, challenge generation from imports, task
understanding).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from kernel.events import Event

if TYPE_CHECKING:
    from accounts.models import User
    from tasks.models import Task


@dataclass(frozen=True, kw_only=True)
class TaskCreated(Event):
    """A task was created (in the creating transaction). Bulk imports may pass
    `create_task(..., emit=False)` and emit nothing per row. `understand` says whether the
    creator asked for task understanding."""

    name: ClassVar[str] = "task.created"
    user: User
    task: Task
    understand: bool = True


@dataclass(frozen=True, kw_only=True)
class TaskCompleted(Event):
    """Inside the completing transaction, exactly once per completion (a repeated or concurrent
    completion emits nothing). `actual_duration` (minutes) and `efficiency` (0-100) are None
    when the user did not say how long it took. `source` is how it was completed (api, update,
    create, an integration)."""

    name: ClassVar[str] = "task.completed"
    user: User
    task: Task
    completed_at: datetime
    actual_duration: int | None = None
    efficiency: float | None = None
    source: str = "api"


@dataclass(frozen=True, kw_only=True)
class TaskReopened(Event):
    """Inside the reopening transaction; the completion's award is already reversed."""

    name: ClassVar[str] = "task.reopened"
    user: User
    task: Task
    previous_completed_at: datetime | None = None
    # "update" when a change of status reopened it: task.updated follows in the same transaction.
    source: str = "api"


@dataclass(frozen=True, kw_only=True)
class TaskUpdated(Event):
    """Inside the updating transaction, once per update that did not complete the task (a
    completion emits task.completed alone), after its last write: `task` is the state that
    commits. `fields` are the names the client changed (status included)."""

    name: ClassVar[str] = "task.updated"
    user: User
    task: Task
    fields: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class TaskDeleted(Event):
    """Inside the deleting transaction, just before the row goes: `task` is its last state."""

    name: ClassVar[str] = "task.deleted"
    user: User
    task: Task
