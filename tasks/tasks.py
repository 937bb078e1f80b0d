"""Celery jobs of the tasks app (the worker discovers this module)."""

from tasks.reminders.jobs import fire_due_reminders  # noqa: F401
