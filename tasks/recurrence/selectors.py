"""Reads of recurrence for the views."""

from __future__ import annotations

from tasks.models import Task
from tasks.recurrence.models import TaskOccurrence


def following_occurrence(task: Task) -> Task | None:
    """The occurrence after `task` in its series (the one its completion created or found), with
    its occurrence cached for the wire shape; None for a task that does not repeat or the last."""
    occurrence = TaskOccurrence.objects.filter(task_id=task.pk).values("series_id", "index").first()
    if occurrence is None:
        return None
    following = (
        TaskOccurrence.objects.select_related("task", "series")
        .filter(series_id=occurrence["series_id"], index__gt=occurrence["index"]).order_by("index").first()
    )
    if following is None:
        return None
    Task.occurrence.related.set_cached_value(following.task, following)
    return following.task
