"""Deepiri's admin site: the staff dashboard on the index page (issue 8).

The dashboard shows, for today (UTC) and the last 24 hours: users (total and active), users
active today, tasks completed today, challenges generated today with the share produced by the
fallback generator, and failed integration syncs in the last 24 hours. Each figure is one
aggregate query; a figure whose app is not installed shows as unavailable.

Installed through `deepiri.admin_apps.DeepiriAdminConfig` (default_site).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone


def _model(label: str):
    try:
        return apps.get_model(label)
    except LookupError:
        return None


def _has_field(model, name: str) -> bool:
    try:
        model._meta.get_field(name)
    except Exception:  # FieldDoesNotExist
        return False
    return True


def dashboard_stats(now: datetime | None = None) -> dict:
    """The dashboard figures. `None` marks a figure whose data is not available."""
    now = now or timezone.now()
    today = datetime.combine(now.astimezone(UTC).date(), time.min, tzinfo=UTC)
    day_ago = now - timedelta(hours=24)
    stats: dict = {"today": today.date(), "generated_at": now}

    User = get_user_model()
    Task = _model("tasks.Task")
    Challenge = _model("challenges.Challenge")

    active_today = Q(last_login__gte=today)
    if Task is not None and _has_field(Task, "completed_at"):
        active_today |= Q(Exists(Task.objects.filter(user=OuterRef("pk"), completed_at__gte=today)))
    if Challenge is not None and _has_field(Challenge, "completed_at"):
        active_today |= Q(Exists(Challenge.objects.filter(user=OuterRef("pk"), completed_at__gte=today)))
    joined_field = next((name for name in ("date_joined", "created_at") if _has_field(User, name)), None)
    user_aggregates = {
        "total": Count("pk"),
        "active": Count("pk", filter=Q(is_active=True)),
        "active_today": Count("pk", filter=active_today),
    }
    if joined_field:
        user_aggregates["joined_today"] = Count("pk", filter=Q(**{f"{joined_field}__gte": today}))
    stats["users"] = User.objects.aggregate(**user_aggregates)

    stats["tasks_completed_today"] = (
        Task.objects.filter(completed_at__gte=today).count()
        if Task is not None and _has_field(Task, "completed_at")
        else None
    )

    if Challenge is not None:
        source_field = "ai_source" if _has_field(Challenge, "ai_source") else None
        aggregates = {"generated": Count("pk")}
        if source_field:
            aggregates["fallback"] = Count("pk", filter=Q(**{source_field: "fallback"}))
        row = Challenge.objects.filter(created_at__gte=today).aggregate(**aggregates)
        generated, fallback = row["generated"], row.get("fallback")
        stats["challenges_today"] = {
            "generated": generated,
            "fallback": fallback,
            "fallback_share": (round(100 * fallback / generated) if generated and fallback is not None else None),
        }
    else:
        stats["challenges_today"] = None

    stats["failed_syncs_24h"] = _failed_syncs_since(day_ago)
    return stats


def _failed_syncs_since(since: datetime):
    """Failed integration sync runs since `since` (None when integrations keeps no sync history)."""
    for label in ("integrations.SyncRun", "integrations.SyncLog", "integrations.IntegrationSyncRun"):
        SyncRun = _model(label)
        if SyncRun is None:
            continue
        time_field = next(
            (name for name in ("finished_at", "started_at", "created_at") if _has_field(SyncRun, name)), None
        )
        if time_field is None or not _has_field(SyncRun, "status"):
            continue
        return SyncRun.objects.filter(**{f"{time_field}__gte": since, "status__in": ["failed", "error"]}).count()
    return None


class DeepiriAdminSite(admin.AdminSite):
    site_header = "Deepiri administration"
    site_title = "Deepiri admin"
    index_title = "Dashboard"
    index_template = "admin/deepiri_index.html"

    def index(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "dashboard": dashboard_stats()}
        return super().index(request, extra_context)
