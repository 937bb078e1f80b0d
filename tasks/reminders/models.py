"""A reminder of a task: relative to its due time (`offset_seconds`), at a time of day on its due
day in the user's zone (`local_time`, the date-only default "09:00 local"), or absolute (`at`).

`fire_at` is the computed UTC instant (NULL while a relative reminder's task has no due date).
The due scan claims pending rows whose `fire_at` passed, by setting `claimed_until` (a lease:
a worker that dies mid-batch leaves a claim that expires), and a row becomes `sent` in the same
transaction as its notification. A reminder more than REMINDERS_STALE_SECONDS late is `stale`.
Closing the task (completed or cancelled) makes its pending reminders `cancelled`; reopening it
or moving the due date re-arms those whose new time is in the future.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from kernel.models import BaseModel

MAX_PER_TASK = 10
MIN_OFFSET_SECONDS = -30 * 86400  # a month before the due time
MAX_OFFSET_SECONDS = 7 * 86400  # a week after it (an "it is overdue" nudge)


class ReminderStatus(models.TextChoices):
    PENDING = "pending"
    SENT = "sent"
    STALE = "stale"  # fell due while nothing could send it, too long ago to be worth sending
    CANCELLED = "cancelled"  # the task was completed or cancelled


class Reminder(BaseModel):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="task_reminders")
    task = models.ForeignKey("tasks.Task", on_delete=models.CASCADE, related_name="reminders")
    offset_seconds = models.IntegerField(null=True, blank=True)
    local_time = models.TimeField(null=True, blank=True)
    at = models.DateTimeField(null=True, blank=True)
    channels = models.JSONField(default=list)
    # Made from the user's default-reminder setting (not chosen for this task).
    is_default = models.BooleanField(default=False)
    fire_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=ReminderStatus.choices, default=ReminderStatus.PENDING)
    claimed_until = models.DateTimeField(null=True, blank=True)
    fired_at = models.DateTimeField(null=True, blank=True)
    # How many times it fired (a re-armed reminder fires again: its notification's dedupe key).
    fire_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("created_at", "id")
        indexes = [
            models.Index(fields=["task", "created_at"], name="reminder_task"),
            # The due scan, and the oldest-unsent gauge.
            models.Index(fields=["fire_at"], name="reminder_pending_due", condition=Q(status="pending")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(offset_seconds__isnull=False, local_time__isnull=True, at__isnull=True)
                    | Q(offset_seconds__isnull=True, local_time__isnull=False, at__isnull=True)
                    | Q(offset_seconds__isnull=True, local_time__isnull=True, at__isnull=False)
                ),
                name="reminder_one_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"reminder {self.pk} of task {self.task_id}"

    @property
    def kind(self) -> str:
        if self.offset_seconds is not None:
            return "relative"
        if self.local_time is not None:
            return "local_time"
        return "absolute"
