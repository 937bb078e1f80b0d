"""A calendar feed: the hash of the secret in its URL, never the secret itself."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from kernel.models import BaseModel, label_of


class CalendarFeed(BaseModel):
    """One subscription URL of one user. The URL's token is shown once (on create and rotate);
    only its SHA-256 is kept, so a database leak hands out no working URL. Deleting the row
    revokes the URL."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feeds")
    name = models.CharField(max_length=100, blank=True, default="")
    token_hash = models.CharField(max_length=64, unique=True)
    rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="calfeed_user_created")]

    def __str__(self):
        return f"calendar feed {self.name or self.pk} of {label_of(self, 'user')}"
