"""Staff screens for challenges.

Filters by status, type, difficulty and the AI metadata's source (`ai` or `fallback`); search by
title and user. Two actions, both through the challenges services: expire (a pending, active or
stuck generating challenge ends as `expired`) and regenerate (a new challenge for the same task
is requested and its generation queued to the worker, as the API's generate; the old one, if not
finished, expires). The content and the AI metadata are read-only. On the task list it adds
"Generate a challenge" (queued to the worker, as the API's generate).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, Q

from challenges import services
from challenges.models import Challenge, ChallengeStatus
from challenges.services import EXPIRABLE, expire_challenge
from kernel.api.exceptions import Conflict

REGENERATABLE = (*EXPIRABLE, ChallengeStatus.FAILED, ChallengeStatus.EXPIRED)


@admin.register(Challenge)
class ChallengeAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "user",
        "type",
        "difficulty",
        "status",
        "ai_source",
        "points_reward",
        "created_at",
        "completed_at",
    )
    list_filter = ("status", "type", "difficulty", ("ai_source", admin.ChoicesFieldListFilter), "created_at")
    search_fields = ("title", "user__email", "user__name", "=task__id")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ["expire", "regenerate"]
    readonly_fields = [f.name for f in Challenge._meta.fields]
    fieldsets = (
        (None, {"fields": ("id", "user", "task", "type", "title", "description", "status")}),
        ("Difficulty and rewards", {"fields": ("difficulty", "difficulty_score", "points_reward", "bonus_multiplier")}),
        ("Content", {"fields": ("configuration",)}),
        (
            "AI metadata",
            {
                "fields": (
                    "ai_source",
                    "ai_model",
                    "ai_generation_time",
                    "ai_request_id",
                    "fallback_reason",
                    "generated_at",
                    "requested_type",
                    "requested_difficulty",
                )
            },
        ),
        (
            "Play",
            {
                "fields": (
                    "started_at",
                    "expires_at",
                    "completed_at",
                    "completion_time",
                    "score",
                    "accuracy",
                    "attempts_used",
                    "hints_used",
                )
            },
        ),
        ("Dates", {"fields": ("created_at", "updated_at")}),
    )

    def has_add_permission(self, request):
        return False  # generated for a task: see "Regenerate" and the tasks' "Generate a challenge"

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Expire selected challenges", permissions=["change"])
    def expire(self, request, queryset):
        expired = sum(expire_challenge(challenge) for challenge in queryset)
        skipped = queryset.count() - expired
        self.message_user(request, f"Expired {expired} challenge(s).", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"{skipped} already finished: left as they were.", messages.WARNING)

    @admin.action(description="Regenerate (a new challenge is queued; the old one expires)", permissions=["change"])
    def regenerate(self, request, queryset):
        queued = 0
        for challenge in queryset.select_related("user", "task").filter(status__in=REGENERATABLE):
            try:
                services.request_generation(
                    challenge.user,
                    challenge.task,
                    type=challenge.requested_type or None,
                    difficulty=challenge.requested_difficulty or None,
                    another=True,
                )
            except Conflict:  # its task was completed or cancelled: no new challenge
                continue
            expire_challenge(challenge)
            queued += 1
        skipped = queryset.count() - queued
        self.message_user(request, f"Queued {queued} new challenge(s) for generation.", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"{skipped} completed challenge(s) skipped.", messages.WARNING)


@admin.action(description="Generate a challenge (queued)", permissions=["change"])
def generate_challenge(modeladmin, request, queryset):
    queued = skipped = 0
    for task in queryset.select_related("user"):
        try:  # staff ask explicitly: another challenge even beside a live one
            services.request_generation(task.user, task, another=True)
        except Conflict:  # completed or cancelled: no challenge for a closed task
            skipped += 1
        else:
            queued += 1
    modeladmin.message_user(request, f"Queued {queued} challenge(s) for generation.", messages.SUCCESS)
    if skipped:
        modeladmin.message_user(request, f"{skipped} completed or cancelled task(s) skipped.", messages.WARNING)


def challenges_today(today, day_ago) -> dict:
    """Challenges generated today and the share the fallback generator produced (the AI service
    down or refusing)."""
    counts = Challenge.objects.filter(generated_at__gte=today).aggregate(
        generated=Count("pk"), fallback=Count("pk", filter=Q(ai_source="fallback"))
    )
    generated, fallback = counts["generated"], counts["fallback"]
    return {
        "challenges_today": {
            "generated": generated,
            "fallback": fallback,
            "fallback_share": round(100 * fallback / generated) if generated else None,
        }
    }


def users_completing_challenges(today):
    """Who completed a challenge today counts as active on the dashboard."""
    return Challenge.objects.filter(completed_at__gte=today).values("user_id")
