"""Every state change of reminders, and the due scan.

    create_reminder(user, task, offset_seconds= | local_time= | at=, channels=) -> Reminder
    delete_reminder(user, reminder)
    sync_task(task)                   after a due-date or status change of the task (tasks.services)
    add_default_reminder(user, task)  the user's default ("15 min before" / "09:00 local"), when on
    copy_reminders(from_task, to_task)  a recurring task's next occurrence gets its reminders
    fire_due() -> dict                the beat job: claim due reminders, notify, mark sent

Firing: `claim` takes up to REMINDERS_BATCH pending rows whose `fire_at` passed and that no
live lease holds (`SELECT … FOR UPDATE SKIP LOCKED`, so concurrent scans take disjoint rows),
stamps `claimed_until = now + REMINDERS_LEASE_SECONDS` and commits. `fire_batch` then locks the
rows again and, in one transaction, creates each `task_reminder` notification (which queues
email and web push through the outbox) and marks the rows sent. A worker that dies between the
two leaves rows claimed until the lease ends; the next scan after that takes them. A worker that
dies inside `fire_batch` rolls its transaction back (and its claims expire the same way). The notification's dedupe key (reminder and
firing number) makes a doubled firing store one notification.
"""

from __future__ import annotations

import logging
import time as time_module
from datetime import UTC, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from notifications import selectors as notification_selectors
from notifications import services as notifications
from tasks.models import Task, TaskStatus

from . import metrics
from .models import MAX_PER_TASK, Reminder, ReminderStatus

logger = logging.getLogger(__name__)

CHANNELS = ("in_app", "email", "push")
REMINDER_TYPE = "task_reminder"
CLOSED = (TaskStatus.COMPLETED, TaskStatus.CANCELLED)
DEFAULT_OFFSET_SECONDS = -15 * 60  # "15 min before" a timed task
DEFAULT_LOCAL_TIME = time(9, 0)  # "09:00 local" on a date-only task's day


# ------------------------------------------------------------------------------ computing
def fire_time(reminder: Reminder, task: Task, tz) -> datetime | None:
    """The UTC instant the reminder is due, or None while its task has no due date."""
    if reminder.at is not None:
        return reminder.at
    if task.due_date is None:
        return None
    if reminder.offset_seconds is not None:
        return task.due_date + timedelta(seconds=reminder.offset_seconds)
    # A time of day on the due day, in the user's zone: zoneinfo resolves the wall time of that
    # day (09:00 on the spring-forward day is 13:00Z in New York, 14:00Z the day before).
    day = task.due_date.astimezone(tz).date()
    return datetime.combine(day, reminder.local_time, tzinfo=tz).astimezone(UTC)


def default_channels(user) -> list[str]:
    """The channels the user's notification settings turn on for reminders."""
    prefs = notification_selectors.settings_of(user)
    chosen = [ch for ch in CHANNELS if prefs.channel_enabled(REMINDER_TYPE, ch)]
    return chosen or ["in_app"]


def _arm(reminder: Reminder, task: Task, tz) -> None:
    reminder.fire_at = fire_time(reminder, task, tz)
    if task.status in CLOSED:
        reminder.status = ReminderStatus.CANCELLED


# ------------------------------------------------------------------------------ create / delete
def create_reminder(
    user, task: Task, *, offset_seconds: int | None = None, local_time: time | None = None,
    at: datetime | None = None, channels: list[str] | None = None, is_default: bool = False,
) -> Reminder:
    """At most MAX_PER_TASK per task (counted under the task's row lock, so two concurrent
    creations cannot both pass at 9). A reminder of a closed task starts cancelled (re-armed
    when the task is reopened)."""
    with transaction.atomic():
        locked = Task.objects.select_for_update().select_related("user").get(pk=task.pk, user=user)
        if Reminder.objects.filter(task=locked).count() >= MAX_PER_TASK:
            raise ValidationError({"non_field_errors": [f"A task has at most {MAX_PER_TASK} reminders."]})
        reminder = Reminder(
            user=user, task=locked, offset_seconds=offset_seconds, local_time=local_time, at=at,
            channels=list(channels) if channels else default_channels(user), is_default=is_default,
        )
        _arm(reminder, locked, user.tzinfo)
        reminder.save(force_insert=True)
    return reminder


def delete_reminder(user, reminder: Reminder) -> None:
    Reminder.objects.filter(pk=reminder.pk, user=user).delete()


def add_default_reminder(user, task: Task) -> Reminder | None:
    """The user's default reminder for a task that has a due date and no reminder yet, when the
    user turned defaults on. Called inside the task's transaction."""
    if task.due_date is None or task.status in CLOSED:
        return None
    if not notification_selectors.settings_of(user).default_reminders:
        return None
    if Reminder.objects.filter(task=task).exists():
        return None
    reminder = Reminder(user=user, task=task, channels=default_channels(user), is_default=True)
    if task.due_date_only:
        reminder.local_time = DEFAULT_LOCAL_TIME
    else:
        reminder.offset_seconds = DEFAULT_OFFSET_SECONDS
    _arm(reminder, task, user.tzinfo)
    reminder.save(force_insert=True)
    return reminder


# ------------------------------------------------------------------------------ following the task
def sync_task(task: Task, *, user=None, now: datetime | None = None) -> int:
    """Follow the task's due date and status (call inside the transaction that changed them):
    relative and local-time reminders get their new time; a closed task's pending reminders are
    cancelled; an open task's sent, stale or cancelled reminders whose (new) time is in the
    future are armed again. Returns how many rows changed."""
    now = now or timezone.now()
    closed = task.status in CLOSED
    tz = (user or task.user).tzinfo
    changed = 0
    for reminder in Reminder.objects.select_for_update().filter(task=task):
        before = (reminder.fire_at, reminder.status)
        new_time = fire_time(reminder, task, tz)
        if closed:
            if reminder.status == ReminderStatus.PENDING:
                reminder.status = ReminderStatus.CANCELLED
        elif reminder.status != ReminderStatus.PENDING and new_time is not None and new_time > now and (
            new_time != reminder.fire_at or reminder.status == ReminderStatus.CANCELLED
        ):
            reminder.status = ReminderStatus.PENDING
            reminder.claimed_until = None
        reminder.fire_at = new_time
        if (reminder.fire_at, reminder.status) != before:
            reminder.save(update_fields=["fire_at", "status", "claimed_until", "updated_at"])
            changed += 1
    return changed


def copy_reminders(from_task: Task, to_task: Task) -> list[Reminder]:
    """Give `to_task` (the next occurrence of a recurring task) copies of `from_task`'s
    reminders, armed for its own due date. An absolute reminder moves with the due date (by the
    same distance) when both tasks have one, and is left out otherwise."""
    copies = []
    # Most occurrences carry no reminder: one query, and nothing locked, answers that.
    sources = list(Reminder.objects.filter(task_id=from_task.pk).order_by("created_at", "id"))
    if not sources:
        return copies
    with transaction.atomic():
        target = Task.objects.select_for_update().select_related("user").get(pk=to_task.pk)
        room = MAX_PER_TASK - Reminder.objects.filter(task=target).count()
        tz = target.user.tzinfo
        for source in sources:
            if len(copies) >= room:
                break
            at = source.at
            if at is not None:
                if from_task.due_date is None or target.due_date is None:
                    continue
                at = at + (target.due_date - from_task.due_date)
            copy = Reminder(
                user_id=target.user_id, task=target, offset_seconds=source.offset_seconds,
                local_time=source.local_time, at=at, channels=list(source.channels), is_default=source.is_default,
            )
            _arm(copy, target, tz)
            copies.append(copy)
        Reminder.objects.bulk_create(copies)
    return copies


# ------------------------------------------------------------------------------ firing
def claim(now: datetime, limit: int) -> list[str]:
    """Lease up to `limit` due reminders to this scan (see the module docstring)."""
    with transaction.atomic():
        ids = list(
            Reminder.objects.select_for_update(skip_locked=True)
            .filter(status=ReminderStatus.PENDING, fire_at__lte=now)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .order_by("fire_at")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            Reminder.objects.filter(pk__in=ids).update(
                claimed_until=now + timedelta(seconds=settings.REMINDERS_LEASE_SECONDS)
            )
    return ids


def _text(task: Task, tz) -> tuple[str, str]:
    title = f"Reminder: {task.title}"
    if task.due_date is None:
        return title, ""
    due = task.due_date.astimezone(tz)
    if task.due_date_only:
        return title, f"\u201c{task.title}\u201d is due on {due:%A %d %B}."
    return title, f"\u201c{task.title}\u201d is due at {due:%H:%M} on {due:%A %d %B} ({due.tzname()})."


def _notify(reminder: Reminder, task: Task) -> None:
    user = task.user
    title, message = _text(task, user.tzinfo)
    notifications.notify(
        user,
        REMINDER_TYPE,
        title,
        message,
        data={
            "task_id": str(task.pk),
            "reminder_id": str(reminder.pk),
            "due_date": task.due_date.isoformat().replace("+00:00", "Z") if task.due_date else None,
            "fire_at": reminder.fire_at.isoformat().replace("+00:00", "Z"),
        },
        priority="high",
        dedupe_key=f"task-reminder:{reminder.pk}:{reminder.fire_count + 1}",
        channels=reminder.channels,
    )


def fire_batch(ids: list[str], now: datetime) -> tuple[dict[str, int], list[float]]:
    """Send claimed reminders, in one transaction (one commit for the batch: on a busy database
    the commit per reminder was most of the cost). Returns the outcome counts (sent, stale,
    cancelled, not_due: its time moved after the claim, gone: deleted or sent by another scan,
    failed: its notification raised; it stays claimed and is retried after the lease) and the
    lags of the sent ones, measured at the end of the batch (just before its commit)."""
    outcomes: dict[str, int] = {}
    sent: list[Reminder] = []
    stale, cancelled, not_due = [], [], []
    with transaction.atomic():
        rows = list(
            Reminder.objects.select_for_update(of=("self",))
            # The user's notification settings come along (notify reads them for each reminder).
            .select_related("task", "task__user", "task__user__notification_settings")
            .filter(pk__in=ids, status=ReminderStatus.PENDING)
            .order_by("fire_at", "id")
        )
        if len(rows) < len(ids):
            outcomes["gone"] = len(ids) - len(rows)
        for reminder in rows:
            task = reminder.task
            if reminder.fire_at is None or reminder.fire_at > now:
                not_due.append(reminder.pk)
            elif task.status in CLOSED:
                cancelled.append(reminder.pk)
            elif (now - reminder.fire_at).total_seconds() > settings.REMINDERS_STALE_SECONDS:
                stale.append(reminder.pk)
            else:
                try:
                    with transaction.atomic():  # one failing notification leaves the rest of the batch
                        _notify(reminder, task)
                except Exception:
                    logger.exception("reminder %s not sent; retried after its claim expires", reminder.pk)
                    outcomes["failed"] = outcomes.get("failed", 0) + 1
                    continue
                sent.append(reminder)
        sent_at = timezone.now()
        if sent:
            Reminder.objects.filter(pk__in=[r.pk for r in sent]).update(
                status=ReminderStatus.SENT, fired_at=sent_at, claimed_until=None, fire_count=F("fire_count") + 1,
                updated_at=sent_at,
            )
        for pks, status in ((stale, ReminderStatus.STALE), (cancelled, ReminderStatus.CANCELLED)):
            if pks:
                Reminder.objects.filter(pk__in=pks).update(status=status, claimed_until=None, updated_at=sent_at)
        if not_due:
            Reminder.objects.filter(pk__in=not_due).update(claimed_until=None)
    for name, items in (("sent", sent), ("stale", stale), ("cancelled", cancelled), ("not_due", not_due)):
        if items:
            outcomes[name] = len(items)
    return outcomes, [(sent_at - r.fire_at).total_seconds() for r in sent]


def fire_due(*, batch: int | None = None, budget: float | None = None) -> dict:
    """The beat job: claim and send due reminders, batch after batch, until none is left or the
    time budget is spent. Scans started by consecutive beat ticks may overlap: they claim
    disjoint rows, so a backlog is worked off by every free worker process."""
    batch = batch or settings.REMINDERS_BATCH
    budget = settings.REMINDERS_SCAN_BUDGET_SECONDS if budget is None else budget
    started = time_module.monotonic()
    totals: dict[str, int] = {}
    while True:
        ids = claim(timezone.now(), batch)
        if ids:
            outcomes, lags = fire_batch(ids, timezone.now())
            for name, count in outcomes.items():
                totals[name] = totals.get(name, 0) + count
            metrics.observe_lags(lags)
        if len(ids) < batch or time_module.monotonic() - started > budget:
            break
    return totals
