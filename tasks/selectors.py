"""Named, scoped reads: another user's task is a 404 (never a 403 or a 500)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import Count, Q
from django.http import Http404
from django.utils import timezone

from kernel.ids import is_valid_id
from tasks import columns
from tasks.models import Task, TaskStatus
from tasks.serializers import tasks_to_dicts


def register_column(name: str, expression, *, contributor: str) -> None:
    """Add a column another app owns to the task's wire shape: an ORM expression, built once
    (see tasks.columns). `contributor` names the code that builds it (printed by
    `manage.py wiring`)."""
    columns.register(name, expression, contributor)


def tasks_for_user(user):
    return columns.annotate(Task.objects.filter(user=user))


def get_task_for_user(user, task_id, *, for_update: bool = False) -> Task:
    if not is_valid_id(task_id):
        raise Http404("Task not found.")
    qs = tasks_for_user(user)
    if for_update:
        qs = qs.select_for_update()
    else:  # a repeating task's series with it, for its wire shape (FOR UPDATE refuses the outer join)
        qs = qs.select_related("occurrence__series")
    task = qs.filter(pk=task_id).first()
    if task is None:
        raise Http404("Task not found.")
    return task


def get_task(task_id) -> Task | None:
    """Any user's task by id, for background jobs that act on the task itself (None when gone)."""
    return Task.objects.filter(pk=task_id).first()


def as_wire_rows(tasks) -> list[dict]:
    """Tasks in their API shape, for another app whose answer embeds them (a sync's result)."""
    return tasks_to_dicts(tasks)


# What a calendar event of a task is made of (integrations' calendar feed), in this order.
CALENDAR_COLUMNS = ("id", "title", "status", "due_date", "due_date_only", "due_revision", "updated_at")


def due_between(user_id, start, end, *, limit: int) -> list[tuple]:
    """A user's tasks due in [start, end), soonest first, as CALENDAR_COLUMNS tuples (the
    (user, due_date) index serves it)."""
    return list(
        Task.objects.filter(user_id=user_id, due_date__gte=start, due_date__lt=end)
        .order_by("due_date", "id")
        .values_list(*CALENDAR_COLUMNS)[:limit]
    )


def due_between_version_sql(user_column: str, start, end) -> tuple[str, list]:
    """A scalar subquery, as (SQL, params), for the version of the list `due_between` gives the
    user whose id is in `user_column` of the outer query: `count|latest updated_at|sum of due
    revisions`, read with `parse_due_version`. It changes whenever the list would (a task added,
    removed, edited or moved), so a client's cached copy is confirmed in the query that finds the
    caller, in one pass over the (user, due_date) index, without reading the rows out. Plain SQL
    (PostgreSQL and SQLite alike) because it sits on the path of a calendar app's every poll,
    where building the same query with the ORM cost more than running it."""
    ops = connection.ops
    # S608: table and column names only; every value is a parameter
    sql = (
        "(SELECT CAST(COUNT(*) AS TEXT) || '|' || COALESCE(CAST(MAX(t.updated_at) AS TEXT), '') || '|' || "  # noqa: S608
        "CAST(COALESCE(SUM(t.due_revision), 0) AS TEXT) "
        f"FROM {ops.quote_name(Task._meta.db_table)} t "
        f"WHERE t.user_id = {user_column} AND t.due_date >= %s AND t.due_date < %s)"
    )
    return sql, [ops.adapt_datetimefield_value(start), ops.adapt_datetimefield_value(end)]


def parse_due_version(value: str | None) -> tuple[int, datetime | None, int]:
    """(count, latest updated_at, sum of due revisions) from `due_between_version_sql`'s text."""
    if not value:
        return 0, None, 0
    count, last, revisions = value.split("|")
    when = datetime.fromisoformat(last) if last else None
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(count), when, int(revisions or 0)


def unclassified_task_ids(older_than_seconds: int = 120, limit: int = 500) -> list[str]:
    """Tasks still without understanding a while after creation (their job was lost: the broker
    dropped it, or it gave up), oldest first."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        Task.objects.filter(classification={}, created_at__lte=cutoff)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )


def stats_of(user) -> dict[str, int]:
    """How many tasks the user has, and how many of them are completed (one query)."""
    counts = Task.objects.filter(user=user).aggregate(
        tasks_total=Count("pk"), tasks_completed=Count("pk", filter=Q(status=TaskStatus.COMPLETED))
    )
    return {name: counts[name] or 0 for name in ("tasks_total", "tasks_completed")}
