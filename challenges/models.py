from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from kernel.models import BaseModel


class ChallengeType(models.TextChoices):
    QUIZ = "quiz"
    PUZZLE = "puzzle"
    CODING_CHALLENGE = "coding_challenge"
    TIMED_COMPLETION = "timed_completion"
    STREAK = "streak"
    MULTIPLAYER = "multiplayer"
    CUSTOM = "custom"


class Difficulty(models.TextChoices):
    EASY = "easy"
    MEDIUM = "medium"
    HARD = "hard"
    VERY_HARD = "very_hard"
    ADAPTIVE = "adaptive"


class ChallengeStatus(models.TextChoices):
    GENERATING = "generating"
    PENDING = "pending"
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"


class AISource(models.TextChoices):
    AI = "ai"
    FALLBACK = "fallback"


MAX_COMPLETION_SECONDS = 7 * 24 * 3600


class Challenge(BaseModel):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="challenges")
    task = models.ForeignKey("tasks.Task", on_delete=models.CASCADE, related_name="challenges")
    type = models.CharField(max_length=20, choices=ChallengeType.choices)
    title = models.CharField(max_length=200)
    description = models.TextField(max_length=2000, blank=True, default="")
    difficulty = models.CharField(max_length=10, choices=Difficulty.choices, default=Difficulty.MEDIUM)
    difficulty_score = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(10)]
    )
    status = models.CharField(max_length=12, choices=ChallengeStatus.choices, default=ChallengeStatus.GENERATING)
    # {time_limit (minutes), attempts, hints[], questions[{question, options[], correct_answer,
    #  points}], milestones[{name, progress, points}], code_template, test_cases[]}
    configuration = models.JSONField(default=dict, blank=True)
    points_reward = models.PositiveIntegerField(default=100)
    bonus_multiplier = models.DecimalField(
        max_digits=3, decimal_places=2, default=1,
        validators=[MinValueValidator(1), MaxValueValidator(3)],
    )

    # What the user asked for (the generator honours them).
    requested_type = models.CharField(max_length=20, choices=ChallengeType.choices, blank=True, default="")
    requested_difficulty = models.CharField(max_length=10, choices=Difficulty.choices, blank=True, default="")

    # Where the content came from (API.md aiMetadata).
    ai_source = models.CharField(max_length=10, choices=AISource.choices, blank=True, default="")
    ai_model = models.CharField(max_length=100, blank=True, default="")
    ai_generation_time = models.FloatField(null=True, blank=True, help_text="seconds")
    ai_request_id = models.CharField(max_length=64, blank=True, default="")
    fallback_reason = models.CharField(max_length=100, blank=True, default="")
    generated_at = models.DateTimeField(null=True, blank=True)

    # Lifecycle
    started_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    completion_time = models.PositiveIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(MAX_COMPLETION_SECONDS)], help_text="seconds"
    )
    score = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MaxValueValidator(100)])
    accuracy = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MaxValueValidator(100)])
    attempts_used = models.PositiveSmallIntegerField(default=0)
    hints_used = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="challenge_user_created"),
            models.Index(fields=["user", "status", "-created_at"], name="challenge_user_status"),
            models.Index(fields=["task", "-created_at"], name="challenge_task"),
            # the expiry beat job: active challenges past their time
            models.Index(fields=["expires_at"], condition=Q(status="active"), name="challenge_active_expiry"),
            models.Index(fields=["created_at"], condition=Q(status="generating"), name="challenge_generating"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(score__isnull=True) | Q(score__lte=100), name="challenge_score_range"),
            models.CheckConstraint(
                condition=Q(accuracy__isnull=True) | Q(accuracy__lte=100), name="challenge_accuracy_range"
            ),
            models.CheckConstraint(
                condition=Q(difficulty_score__gte=1, difficulty_score__lte=10), name="challenge_difficulty_score_range"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def hints(self) -> list[str]:
        return list(self.configuration.get("hints") or [])

    @property
    def time_limit(self) -> int | None:
        value = self.configuration.get("time_limit")
        return int(value) if value else None


# Multiplayer sessions' models live in their own package; imported here so Django registers them
# in this app (same tables, same migrations).
from challenges.sessions.models import ChallengeSession, ChallengeSessionParticipant, SessionStatus  # noqa: E402, F401
