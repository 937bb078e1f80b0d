"""Deepiri's admin site: the staff dashboard on the index page (issue 8).

The dashboard shows, for today (UTC) and the last 24 hours: users (total, active, joined today),
users active today (signed in, or completed a task or a challenge), tasks completed today,
challenges generated today with the share produced by the fallback generator (the AI service
down or refusing), and failed integration syncs in the last 24 hours. Each figure is one
aggregate query, and the result is shared by all staff for DASHBOARD_CACHE_SECONDS.

Installed through `deepiri.admin_apps.DeepiriAdminConfig` (default_site).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import Count, Q
from django.utils import timezone


def dashboard_stats(now: datetime | None = None) -> dict:
    """The dashboard figures: a handful of aggregate queries, whatever the data size."""
    from challenges.models import Challenge
    from integrations.models import SyncRun
    from tasks.models import Task

    now = now or timezone.now()
    today = datetime.combine(now.astimezone(UTC).date(), time.min, tzinfo=UTC)
    day_ago = now - timedelta(hours=24)

    active_today = (
        Q(last_login__gte=today)
        | Q(pk__in=Task.objects.filter(completed_at__gte=today).values("user_id"))
        | Q(pk__in=Challenge.objects.filter(completed_at__gte=today).values("user_id"))
    )
    users = get_user_model().objects.aggregate(
        total=Count("pk"),
        active=Count("pk", filter=Q(is_active=True)),
        joined_today=Count("pk", filter=Q(created_at__gte=today)),
        active_today=Count("pk", filter=active_today),
    )
    challenges = Challenge.objects.filter(generated_at__gte=today).aggregate(
        generated=Count("pk"), fallback=Count("pk", filter=Q(ai_source="fallback"))
    )
    generated, fallback = challenges["generated"], challenges["fallback"]
    return {
        "today": today.date(),
        "generated_at": now,
        "users": users,
        "tasks_completed_today": Task.objects.filter(completed_at__gte=today).count(),
        "challenges_today": {
            "generated": generated,
            "fallback": fallback,
            "fallback_share": round(100 * fallback / generated) if generated else None,
        },
        "failed_syncs_24h": SyncRun.objects.filter(status=SyncRun.Status.FAILED, started_at__gte=day_ago).count(),
    }


DASHBOARD_CACHE_SECONDS = 30


def cached_dashboard_stats() -> dict:
    """The figures, computed at most every DASHBOARD_CACHE_SECONDS for all staff (shared cache)."""
    return cache.get_or_set("admin:dashboard", dashboard_stats, DASHBOARD_CACHE_SECONDS)


class DeepiriAdminSite(admin.AdminSite):
    site_header = "Deepiri administration"
    site_title = "Deepiri admin"
    index_title = "Dashboard"
    index_template = "admin/deepiri_index.html"

    def index(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "dashboard": cached_dashboard_stats()}
        return super().index(request, extra_context)
