"""Notifications: stored, pushed over the socket after commit, emailed when the user wants it.

A notification is created only through `notifications.services.notify`, which applies the
user's `NotificationSettings` (per type and per channel). `event_id` is the per-user socket
event id the notification was pushed with (see `realtime.publisher`); it is NULL between
commit and push, and `GET /api/notifications?since=<event id>` returns both the rows pushed
after that id and the ones not pushed yet, so a reconnecting client misses nothing.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from kernel.models import BaseModel, label_of
from kernel.versioning import version_field


class NotificationType(models.TextChoices):
    BADGE_EARNED = "badge_earned", "Badge earned"
    LEVEL_UP = "level_up", "Level up"
    CHALLENGE_GENERATED = "challenge_generated", "Challenge generated"
    SESSION_INVITE = "session_invite", "Multiplayer session invite"
    SESSION_FINISHED = "session_finished", "Multiplayer session finished"
    INTEGRATION_SYNCED = "integration_synced", "Integration sync finished"
    INTEGRATION_FAILED = "integration_failed", "Integration sync failed"
    STREAK_AT_RISK = "streak_at_risk", "Streak at risk"
    FRIEND_REQUEST = "friend_request", "Friend request"
    TASK_REMINDER = "task_reminder", "Task reminder"
    SYSTEM = "system", "System announcement"


class Priority(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class Channel(models.TextChoices):
    IN_APP = "in_app", "In-app (stored and pushed over the socket)"
    EMAIL = "email", "Email"
    PUSH = "push", "Web push (the browser's push service, when VAPID keys are set)"


# Which channels a type uses until the user says otherwise. Email is opt-in except where the
# user is likely to want to act (an invite, a broken integration, a streak about to be lost).
DEFAULT_CHANNELS: dict[str, dict[str, bool]] = {
    NotificationType.BADGE_EARNED: {"in_app": True, "email": False},
    NotificationType.LEVEL_UP: {"in_app": True, "email": False},
    NotificationType.CHALLENGE_GENERATED: {"in_app": True, "email": False},
    NotificationType.SESSION_INVITE: {"in_app": True, "email": True},
    NotificationType.SESSION_FINISHED: {"in_app": True, "email": False},
    NotificationType.INTEGRATION_SYNCED: {"in_app": True, "email": False},
    NotificationType.INTEGRATION_FAILED: {"in_app": True, "email": True},
    NotificationType.STREAK_AT_RISK: {"in_app": True, "email": True},
    NotificationType.FRIEND_REQUEST: {"in_app": True, "email": False},
    # A reminder the user set is worth a push to a closed tab; email stays opt-in.
    NotificationType.TASK_REMINDER: {"in_app": True, "email": False, "push": True},
    NotificationType.SYSTEM: {"in_app": True, "email": False},
}


class Notification(BaseModel):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    type = models.CharField(max_length=32, choices=NotificationType.choices)
    title = models.CharField(max_length=200)
    message = models.CharField(max_length=2000, blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.MEDIUM)
    read_at = models.DateTimeField(null=True, blank=True)
    # Per-user socket event id it was pushed with; NULL until pushed.
    event_id = models.BigIntegerField(null=True, blank=True)
    pushed_at = models.DateTimeField(null=True, blank=True)
    email_sent_at = models.DateTimeField(null=True, blank=True)
    # Makes a notification idempotent ("streak reminder for 2026-05-01" is sent once).
    dedupe_key = models.CharField(max_length=120, null=True, blank=True)
    version = version_field()

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [
            models.Index(fields=["user", "-created_at"], name="notif_user_created"),
            models.Index(fields=["user", "event_id"], name="notif_user_event"),
            models.Index(fields=["user"], name="notif_user_unread", condition=models.Q(read_at__isnull=True)),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "dedupe_key"],
                name="notif_user_dedupe_unique",
                condition=models.Q(dedupe_key__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"{self.type}: {self.title}"

    @property
    def read(self) -> bool:
        return self.read_at is not None

    @property
    def status(self) -> str:
        # The original client's vocabulary: pending (not pushed yet), delivered, read.
        if self.read_at is not None:
            return "read"
        return "delivered" if self.pushed_at is not None else "pending"


class NotificationSettings(BaseModel):
    """A user's choices: a master switch per channel, and per type per channel."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_settings"
    )
    in_app_enabled = models.BooleanField(default=True)
    email_enabled = models.BooleanField(default=True)
    # {"<type>": {"in_app": bool, "email": bool, "push": bool}}; a missing entry means DEFAULT_CHANNELS.
    types = models.JSONField(default=dict, blank=True)
    # Master switch of web push (to every browser the user subscribed).
    web_push_enabled = models.BooleanField(default=True, db_default=True)
    # New tasks with a due date get a reminder ("15 min before" a timed one, "09:00 local" on the
    # day of a date-only one); off until the user turns it on.
    default_reminders = models.BooleanField(default=False, db_default=False)

    class Meta:
        verbose_name_plural = "notification settings"

    def __str__(self) -> str:
        return f"notification settings of {label_of(self, 'user')}"

    def master_enabled(self, channel: str) -> bool:
        return {
            Channel.IN_APP: self.in_app_enabled, Channel.EMAIL: self.email_enabled, Channel.PUSH: self.web_push_enabled,
        }.get(channel, False)

    def channel_enabled(self, type_: str, channel: str) -> bool:
        if not self.master_enabled(channel):
            return False
        per_type = self.types.get(type_) or {}
        if channel in per_type:
            return bool(per_type[channel])
        return DEFAULT_CHANNELS.get(type_, {}).get(channel, channel == Channel.IN_APP)

    def effective_types(self) -> dict[str, dict[str, bool]]:
        out = {}
        for type_ in NotificationType.values:
            default = DEFAULT_CHANNELS.get(type_, {"in_app": True, "email": False})
            stored = self.types.get(type_) or {}
            out[type_] = {ch: bool(stored.get(ch, default.get(ch, False))) for ch in Channel.values}
        return out


class PushSubscription(BaseModel):
    """One browser's Web Push subscription (`PushSubscription.toJSON()`): where to post, and the
    keys to encrypt for. Expired (410/404 from the push service) rows are kept, marked, until the
    browser subscribes again or the user removes them."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_subscriptions")
    endpoint = models.URLField(max_length=1000)
    p256dh = models.CharField(max_length=200)
    auth = models.CharField(max_length=100)
    user_agent = models.CharField(max_length=300, blank=True, default="")
    expired_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    failures = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("created_at", "id")
        constraints = [models.UniqueConstraint(fields=["endpoint"], name="push_subscription_endpoint_unique")]
        indexes = [models.Index(fields=["user"], name="push_sub_user_active", condition=models.Q(expired_at__isnull=True))]

    def __str__(self) -> str:
        return f"push subscription of {label_of(self, 'user')}"

    def as_subscription_info(self) -> dict:
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}
