"""Columns of a task's wire shape that another app owns, as ORM expressions over the task row,
so a page of tasks still costs one query.

`challenge_id` (API.md `challengeId`, the latest challenge generated for the task) is
registered by challenges, which points at tasks; without it the column is null.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import CharField, Value

from tasks.models import Task

_columns: dict[str, Callable] = {"challenge_id": lambda: Value(None, output_field=CharField())}


def register(name: str, expression: Callable) -> None:
    """`expression()` returns a fresh ORM expression (e.g. a Subquery on OuterRef("pk"))."""
    _columns[name] = expression


def names() -> tuple[str, ...]:
    return tuple(_columns)


def annotate(queryset):
    return queryset.annotate(**{name: expression() for name, expression in _columns.items()})


def values_for(task_ids) -> dict[str, dict]:
    """{task id: {column: value}} for tasks fetched without the columns (one query)."""
    rows = annotate(Task.objects.filter(pk__in=list(task_ids))).values("pk", *_columns)
    return {row.pop("pk"): row for row in rows}
