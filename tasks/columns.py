"""Columns of a task's wire shape that another app owns, as ORM expressions over the task row,
so a page of tasks still costs one query.

`challenge_id` (API.md `challengeId`, the latest challenge generated for the task) is
registered by challenges, which points at tasks; without it the column is null.
"""

from __future__ import annotations

from django.db.models import CharField, Value
from django.db.models.expressions import BaseExpression

from kernel import wiring
from tasks.models import Task

_columns: dict[str, BaseExpression] = {"challenge_id": Value(None, output_field=CharField())}


def register(name: str, expression: BaseExpression, contributor: str) -> None:
    """`expression` is an ORM expression over the task row (e.g. a Subquery on OuterRef("pk")),
    built once and used by every query: annotating resolves a copy of it and leaves it as it is.
    Building the subquery again for each query took about 90 us of a 5 ms task-list request."""
    _columns[name] = expression
    wiring.record("task columns", name, contributor)


def names() -> tuple[str, ...]:
    return tuple(_columns)


def annotate(queryset):
    return queryset.annotate(**_columns)


def values_for(task_ids) -> dict[str, dict]:
    """{task id: {column: value}} for tasks fetched without the columns (one query)."""
    rows = annotate(Task.objects.filter(pk__in=list(task_ids))).values("pk", *_columns)
    return {row.pop("pk"): row for row in rows}
