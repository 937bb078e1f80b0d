"""Tasks' wiring: what this app plugs into the registries below it (`register()`, called from
TasksConfig.ready(); `manage.py wiring` prints the result)."""

from __future__ import annotations

from accounts import selectors as account_selectors
from kernel import admin as deepiri_admin
from kernel import exports
from kernel.metrics import register_collector
from tasks import admin, columns, selectors
from tasks.reminders import metrics as reminder_metrics
from tasks.serializers import tasks_to_dicts


def export_tasks(user) -> list[dict]:
    return tasks_to_dicts(columns.annotate(user.tasks.order_by("created_at")))


def register() -> None:
    exports.register("tasks", export_tasks)
    account_selectors.register_stats(selectors.stats_of)
    deepiri_admin.register_activity(admin.users_completing_tasks)
    deepiri_admin.register_figures(admin.tasks_today)
    register_collector(reminder_metrics.collect)
    deepiri_admin.register_figures(reminder_metrics.dashboard_figures)
