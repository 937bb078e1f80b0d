from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from kernel.models import BaseModel
from kernel.versioning import version_field

MAX_DURATION_MINUTES = 60 * 24 * 365  # a year: anything longer is a typo
MAX_TAGS, MAX_TAG_LENGTH = 20, 50


def validate_tags(value) -> None:
    if not isinstance(value, list) or len(value) > MAX_TAGS:
        raise ValidationError(f"A list of at most {MAX_TAGS} tags.")
    for tag in value:
        if not isinstance(tag, str) or not tag.strip() or len(tag) > MAX_TAG_LENGTH:
            raise ValidationError(f"Each tag is a non-empty string of at most {MAX_TAG_LENGTH} characters.")


class TaskType(models.TextChoices):
    MANUAL = "manual"
    NOTION = "notion"
    TRELLO = "trello"
    GITHUB = "github"
    GOOGLE_DOCS = "google_docs"
    PDF = "pdf"
    CODE = "code"
    STUDY = "study"
    CREATIVE = "creative"
    MEETING = "meeting"
    RESEARCH = "research"
    ADMIN = "admin"


class TaskStatus(models.TextChoices):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Priority(models.TextChoices):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"


class TaskSource(models.TextChoices):
    MANUAL = "manual"
    NOTION = "notion"
    TRELLO = "trello"
    GITHUB = "github"
    GOOGLE_DOCS = "google_docs"
    PDF = "pdf"
    CHAT = "chat"
    API = "api"


class Task(BaseModel):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tasks")
    title = models.CharField(max_length=200)
    description = models.TextField(max_length=2000, blank=True, default="", validators=[MaxLengthValidator(2000)])
    type = models.CharField(max_length=20, choices=TaskType.choices, default=TaskType.MANUAL)
    status = models.CharField(max_length=20, choices=TaskStatus.choices, default=TaskStatus.PENDING)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.MEDIUM)
    due_date = models.DateTimeField(null=True, blank=True)
    # The user gave a day, not a time: `due_date` is the end of that day in their time zone.
    due_date_only = models.BooleanField(default=False)
    # Bumped whenever the due date moves, so calendar feeds can raise the event's SEQUENCE without
    # writing on read. db_default: the previous release inserts rows without this column.
    due_revision = models.IntegerField(default=0, db_default=0, editable=False)
    estimated_duration = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(MAX_DURATION_MINUTES)],
        help_text="minutes",
    )
    tags = models.JSONField(default=list, blank=True, validators=[validate_tags])

    # Where the task came from (integrations upsert by (user, source, source_id)).
    source = models.CharField(max_length=20, choices=TaskSource.choices, default=TaskSource.MANUAL)
    source_id = models.CharField(max_length=255, blank=True, default="")
    source_url = models.URLField(max_length=1000, blank=True, default="")

    # Server-set: task understanding (AI or rule-based) and what the user set explicitly, which
    # understanding never overrides.
    classification = models.JSONField(default=dict, blank=True)
    user_set_fields = models.JSONField(default=list, blank=True)

    # Server-set completion data (API.md `completionData`).
    completed_at = models.DateTimeField(null=True, blank=True)
    actual_duration = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(MAX_DURATION_MINUTES)],
        help_text="minutes",
    )
    efficiency = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(100)])
    completion_notes = models.TextField(max_length=2000, blank=True, default="", validators=[MaxLengthValidator(2000)])
    version = version_field()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="task_user_created"),
            models.Index(fields=["user", "status", "-created_at"], name="task_user_status"),
            models.Index(fields=["user", "type", "-created_at"], name="task_user_type"),
            models.Index(fields=["user", "due_date"], name="task_user_due"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "source", "source_id"], condition=~Q(source_id=""), name="task_unique_source_id"
            ),
            models.CheckConstraint(
                condition=Q(efficiency__isnull=True) | Q(efficiency__gte=0, efficiency__lte=100),
                name="task_efficiency_range",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_completed(self) -> bool:
        return self.status == TaskStatus.COMPLETED


# The recurrence and reminder tables live in their own packages (tasks/recurrence/, tasks/reminders/)
# with this app's label and migrations; imported here so Django registers them with the app.
from tasks.recurrence.models import RecurrenceSeries, TaskOccurrence  # noqa: E402, F401
from tasks.reminders.models import Reminder, ReminderStatus  # noqa: E402, F401
