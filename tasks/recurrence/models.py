"""A series and its occurrences (app label `tasks`; `tasks.models` imports these).

Occurrences live in their own table rather than as columns on `tasks_task`: a unique
(series, index) and the foreign keys come with a new table, without a lock or a concurrent
index build on the big one, and a task that does not repeat has no row here.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from kernel.models import BaseModel


class SeriesState(models.TextChoices):
    ACTIVE = "active"
    STOPPED = "stopped"  # the user stopped it (DELETE ?series=future, recurrence: null, a new rule)
    ENDED = "ended"  # COUNT or UNTIL reached
    BROKEN = "broken"  # the stored rule no longer parses; `stop_reason` says why


class Anchor(models.TextChoices):
    DUE = "due"
    COMPLETION = "completion"


class Outcome(models.TextChoices):
    COMPLETED = "completed"
    SKIPPED = "skipped"


class RecurrenceSeries(BaseModel):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="task_series")
    rule = models.CharField(max_length=500, help_text="RFC 5545 RRULE body, without DTSTART")
    anchor = models.CharField(max_length=12, choices=Anchor.choices, default=Anchor.DUE)
    # The user's zone when the rule was set: moving zones later does not shift the series.
    timezone = models.CharField(max_length=64)
    # The first occurrence's due time as a naive wall-clock time in `timezone` (ISO, seconds):
    # kept as text so a time inside a DST gap keeps the wall time the user chose.
    start_local = models.CharField(max_length=19)
    date_only = models.BooleanField(default=False)
    state = models.CharField(max_length=10, choices=SeriesState.choices, default=SeriesState.ACTIVE)
    stop_reason = models.CharField(max_length=300, blank=True, default="")
    streak_current = models.PositiveIntegerField(default=0)
    streak_longest = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "task series"
        verbose_name_plural = "task series"
        indexes = [models.Index(fields=["user", "state"], name="series_user_state")]

    def __str__(self) -> str:
        return f"{self.rule} ({self.state})"


class TaskOccurrence(BaseModel):
    """Task `task` is occurrence `index` of `series` (0 = the task the rule was set on)."""

    task = models.OneToOneField("tasks.Task", on_delete=models.CASCADE, related_name="occurrence")
    series = models.ForeignKey(RecurrenceSeries, on_delete=models.CASCADE, related_name="occurrences")
    index = models.PositiveIntegerField()
    # The schedule slot (naive local wall time in the series' zone), independent of the task's
    # due date, which the user may move.
    slot_local = models.CharField(max_length=19)
    # Earlier slots already in the past when this occurrence was created, passed over.
    skipped_before = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, blank=True, default="")
    # The series streak before this occurrence's outcome, restored when it is reopened.
    streak_before = models.PositiveIntegerField(null=True, blank=True)
    longest_before = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["series", "index"], name="occurrence_unique_index")]

    def __str__(self) -> str:
        return f"#{self.index} of {self.series_id}"
