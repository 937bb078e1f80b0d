"""Gamification tables.

The ledger is the source of truth: every point and XP change is an immutable `LedgerEntry`
(a reversal is a compensating row, never an edit). `GamificationProfile` holds the per-user
totals, streaks and stats derived from it (and from `Activity`, the facts of each completion),
kept in step atomically by `gamification.services` and rebuildable with
`manage.py rebuild_gamification`. Badges are a catalogue (seeded by a data migration, editable
in the admin); `UserBadge` records each award.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from gamification import rules
from kernel.models import BaseModel, label_of


class GamificationProfile(BaseModel):
    class Difficulty(models.TextChoices):
        EASY = "easy"
        MEDIUM = "medium"
        HARD = "hard"
        ADAPTIVE = "adaptive"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="gamification_profile")
    points = models.BigIntegerField(default=0)
    xp = models.BigIntegerField(default=0, help_text="Total XP; the level and in-level XP derive from it.")
    level = models.PositiveIntegerField(default=1)

    daily_current = models.PositiveIntegerField(default=0)
    daily_longest = models.PositiveIntegerField(default=0)
    daily_last_date = models.DateField(null=True, blank=True)
    daily_covered_through = models.DateField(null=True, blank=True)
    freezes = models.PositiveSmallIntegerField(default=0)
    weekly_current = models.PositiveIntegerField(default=0)
    weekly_longest = models.PositiveIntegerField(default=0)
    weekly_last_week = models.CharField(max_length=8, null=True, blank=True)

    tasks_completed = models.PositiveIntegerField(default=0)
    challenges_completed = models.PositiveIntegerField(default=0)
    total_time_spent = models.PositiveIntegerField(default=0, help_text="Minutes.")
    efficiency_sum = models.FloatField(default=0)
    efficiency_count = models.PositiveIntegerField(default=0)

    # Denormalized [{id, slug, name, icon, rarity, earned_at}] so a leaderboard page needs one query.
    badges = models.JSONField(default=list, blank=True)

    show_leaderboard = models.BooleanField(default=True)
    enable_notifications = models.BooleanField(default=True)
    challenge_difficulty = models.CharField(max_length=10, choices=Difficulty.choices, default=Difficulty.ADAPTIVE)

    class Meta:
        indexes = [
            models.Index(fields=["-points"], name="gam_profile_points_idx"),
            models.Index(fields=["daily_current"], name="gam_profile_daily_idx"),
        ]

    def __str__(self):
        return f"{label_of(self, 'user')}: {self.points} pts, level {self.level}"

    # --- derived views -------------------------------------------------------------------------
    @property
    def level_state(self) -> rules.LevelState:
        return rules.level_for_xp(self.xp)

    @property
    def average_efficiency(self) -> float:
        return round(self.efficiency_sum / self.efficiency_count, 2) if self.efficiency_count else 0.0

    @property
    def daily(self) -> rules.DailyStreak:
        return rules.DailyStreak(
            current=self.daily_current,
            longest=self.daily_longest,
            last_date=self.daily_last_date,
            covered_through=self.daily_covered_through,
            freezes=self.freezes,
        )

    @daily.setter
    def daily(self, streak: rules.DailyStreak) -> None:
        self.daily_current = streak.current
        self.daily_longest = streak.longest
        self.daily_last_date = streak.last_date
        self.daily_covered_through = streak.covered_through
        self.freezes = streak.freezes

    @property
    def weekly(self) -> rules.WeeklyStreak:
        return rules.WeeklyStreak(current=self.weekly_current, longest=self.weekly_longest, last_week=self.weekly_last_week)

    @weekly.setter
    def weekly(self, streak: rules.WeeklyStreak) -> None:
        self.weekly_current = streak.current
        self.weekly_longest = streak.longest
        self.weekly_last_week = streak.last_week

    def metrics(self) -> dict:
        """The values `count` and `threshold` badge criteria read."""
        return {
            "tasks_completed": self.tasks_completed,
            "challenges_completed": self.challenges_completed,
            "badges_earned": len(self.badges),
            "total_time_spent": self.total_time_spent,
            "points": self.points,
            "level": self.level,
            "daily_streak": self.daily_current,
            "longest_daily_streak": self.daily_longest,
            "weekly_streak": self.weekly_current,
            "average_efficiency": self.average_efficiency,
        }


class LedgerEntry(BaseModel):
    """One immutable change of points and XP. A reversal points at the entry it compensates."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ledger_entries")
    points = models.BigIntegerField()
    xp = models.BigIntegerField()
    reason = models.CharField(max_length=200)
    source = models.CharField(max_length=32)  # task | challenge | badge | reversal | admin
    source_id = models.CharField(max_length=64, blank=True, default="")
    idempotency_key = models.CharField(max_length=200, unique=True)
    breakdown = models.JSONField(default=list, blank=True)
    # The instant the award counts for on periodic leaderboards (a reversal carries its original's).
    occurred_at = models.DateTimeField()
    reverses = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="reversal"
    )

    class Meta:
        verbose_name_plural = "ledger entries"
        indexes = [
            models.Index(fields=["user", "-created_at"], name="gam_ledger_user_created_idx"),
            models.Index(fields=["source", "source_id"], name="gam_ledger_source_idx"),
            models.Index(fields=["occurred_at"], name="gam_ledger_occurred_idx"),
        ]

    def __str__(self):
        return f"{label_of(self, 'user')} {self.points:+d} ({self.reason})"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValidationError("Ledger entries are immutable; add a compensating entry instead.")
        super().save(*args, **kwargs)


class Activity(BaseModel):
    """The facts of one domain event that badges and stats count (a completed task, a finished
    challenge, a sync run). `key` makes redelivery harmless; a reopened task marks it reversed."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="gamification_activities")
    kind = models.CharField(max_length=40)
    key = models.CharField(max_length=200, unique=True)
    subject_id = models.CharField(max_length=64, blank=True, default="")
    facts = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField()
    local_date = models.DateField()
    reversed = models.BooleanField(default=False)

    class Meta:
        verbose_name_plural = "activities"
        indexes = [models.Index(fields=["user", "kind", "reversed"], name="gam_activity_user_kind_idx")]

    def __str__(self):
        return f"{self.user_id} {self.kind} {self.subject_id}"


# Badge points: no badge is worth more than BADGE_POINTS_MAX, and one worth more than
# BADGE_POINTS_ADMIN_THRESHOLD (the legendary tier) is created, changed and awarded by the admin
# role only (gamification/admin.py): a moderator cannot mint points by the million.
BADGE_POINTS_MAX = 10_000
BADGE_POINTS_ADMIN_THRESHOLD = 1_000


class Badge(BaseModel):
    class Category(models.TextChoices):
        COMPLETION = "completion"
        CHALLENGE = "challenge"
        STREAK = "streak"
        MILESTONE = "milestone"
        EFFICIENCY = "efficiency"
        INTEGRATION = "integration"
        MULTIPLAYER = "multiplayer"
        SPECIAL = "special"

    class Rarity(models.TextChoices):
        COMMON = "common"
        UNCOMMON = "uncommon"
        RARE = "rare"
        EPIC = "epic"
        LEGENDARY = "legendary"

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=100, unique=True)
    icon = models.CharField(max_length=32)
    description = models.CharField(max_length=500)
    category = models.CharField(max_length=20, choices=Category.choices)
    rarity = models.CharField(max_length=12, choices=Rarity.choices, default=Rarity.COMMON)
    criteria = models.JSONField(help_text="See gamification.rules.validate_criteria.")
    points = models.PositiveIntegerField(default=50)
    active = models.BooleanField(default=True)
    sort_order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "slug"]
        indexes = [models.Index(fields=["active", "category"], name="gam_badge_active_cat_idx")]

    def __str__(self):
        return self.name

    def clean(self):
        errors = rules.validate_criteria(self.criteria)
        if errors:
            raise ValidationError({"criteria": [f"{k}: {'; '.join(v)}" for k, v in errors.items()]})
        if self.points is not None and self.points > BADGE_POINTS_MAX:
            raise ValidationError({"points": [f"A badge is worth at most {BADGE_POINTS_MAX:,} points."]})

    def save(self, *args, **kwargs):
        if self.points is not None and self.points > BADGE_POINTS_MAX:
            raise ValueError(f"badge points above the cap of {BADGE_POINTS_MAX}")
        super().save(*args, **kwargs)


class UserBadge(BaseModel):
    """A badge earned by a user: at most one per (user, badge), revoked ones included, so a
    revoked badge is not handed out again by the next evaluation."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="user_badges")
    badge = models.ForeignKey(Badge, on_delete=models.PROTECT, related_name="awards")
    earned_at = models.DateTimeField()
    ledger_entry = models.OneToOneField(LedgerEntry, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoke_reason = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "badge"], name="gam_userbadge_unique")]

    def __str__(self):
        return f"{label_of(self, 'user')}: {label_of(self, 'badge')}"

    @property
    def active(self) -> bool:
        return self.revoked_at is None
