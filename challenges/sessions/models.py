"""Multiplayer challenge sessions' tables (imported by challenges/models.py, so Django registers
them as `challenges` models; their tables and migrations stay the challenges app's).

SQL holds who plays and the stored result; the live state (progress, finish times, presence)
is in Redis while the session runs (see challenges/sessions/services.py) and is written here
when the session ends.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from kernel.models import BaseModel


class SessionStatus(models.TextChoices):
    ACTIVE = "active"
    COMPLETED = "completed"  # everyone finished
    EXPIRED = "expired"  # time ran out first


class ChallengeSession(BaseModel):
    challenge = models.ForeignKey("challenges.Challenge", on_delete=models.CASCADE, related_name="sessions")
    host = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="hosted_challenge_sessions"
    )
    status = models.CharField(max_length=10, choices=SessionStatus.choices, default=SessionStatus.ACTIVE)
    started_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    winner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    first_finisher_bonus = models.PositiveIntegerField(default=0)
    # Final standings, written once when the session ends: [{user_id, progress, finished_at, rank}]
    result = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["ends_at"], condition=Q(status="active"), name="chsession_active_ends"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["challenge"], condition=Q(status="active"), name="chsession_one_active_per_challenge"
            )
        ]

    def __str__(self) -> str:
        return f"session {self.pk} of {self.challenge_id}"

    @property
    def room(self) -> str:
        return f"session:{self.pk}"


class ChallengeSessionParticipant(BaseModel):
    session = models.ForeignKey(ChallengeSession, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="challenge_session_participations"
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Final values (live values are in Redis while the session is active).
    progress = models.PositiveSmallIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)
    rank = models.PositiveSmallIntegerField(null=True, blank=True)
    bonus_points = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["session", "user"], name="chsession_participant_unique"),
        ]
        indexes = [models.Index(fields=["user", "session"], name="chsession_participant_user")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.session_id}"
