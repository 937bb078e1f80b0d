"""Deepiri's admin site: the staff dashboard on the index page.

The dashboard shows, for today (UTC) and the last 24 hours: users (total, active, joined today),
users active today (signed in, or completed a task or a challenge), tasks completed today,
challenges generated today with the share produced by the fallback generator (the AI service
down or refusing), and failed integration syncs in the last 24 hours. Each figure is one
aggregate query, and the result is shared by all staff for DASHBOARD_CACHE_SECONDS. The users'
figures are counted here; the others come from the apps that own them (`register_figures`,
`register_activity`), since this package sits below every app.

Installed through `kernel.admin_apps.DeepiriAdminConfig` (default_site).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from urllib.parse import urlencode

from django import forms
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django_otp import devices_for_user

from kernel import roles, wiring

# What the apps add to the dashboard, registered from their handlers.register():
# - `register_activity(fn)`: fn(today) -> a queryset of the ids of users active today (besides
#   signing in), e.g. who completed a task;
# - `register_figures(fn)`: fn(today, day_ago) -> {name: figure} merged into the stats.
_activity: list = []
_figures: list = []


def register_activity(users_active_since) -> None:
    if users_active_since not in _activity:
        _activity.append(users_active_since)
    wiring.record("admin dashboard activity", wiring.describe(users_active_since), users_active_since)


def register_figures(figures) -> None:
    if figures not in _figures:
        _figures.append(figures)
    wiring.record("admin dashboard figures", wiring.describe(figures), figures)


def dashboard_stats(now: datetime | None = None) -> dict:
    """The dashboard figures: a handful of aggregate queries, whatever the data size."""
    now = now or timezone.now()
    today = start_of_today(now)
    day_ago = now - timedelta(hours=24)

    active_today = active_today_q(today)
    users = get_user_model().objects.aggregate(
        total=Count("pk"),
        active=Count("pk", filter=Q(is_active=True)),
        joined_today=Count("pk", filter=Q(created_at__gte=today)),
        active_today=Count("pk", filter=active_today),
    )
    stats = {"today": today.date(), "generated_at": now, "users": users}
    for figures in _figures:
        stats.update(figures(today, day_ago))
    return stats


def start_of_today(now: datetime | None = None) -> datetime:
    now = now or timezone.now()
    return datetime.combine(now.astimezone(UTC).date(), time.min, tzinfo=UTC)


def active_today_q(today: datetime) -> Q:
    """Users active since `today`: signed in, or did what an app counts (completed a task...)."""
    active_today = Q(last_login__gte=today)
    for users_active_since in _activity:
        active_today |= Q(pk__in=users_active_since(today))
    return active_today


def dashboard_links(now: datetime | None = None) -> dict:
    """Each figure's changelist, filtered to exactly what the figure counts."""
    now = now or timezone.now()
    today = start_of_today(now).isoformat()
    day_ago = (now - timedelta(hours=24)).replace(microsecond=0).isoformat()
    wanted = {
        "users": ("admin:accounts_user_changelist", {}),
        "active_today": ("admin:accounts_user_changelist", {"active_today": "1"}),
        "tasks_completed_today": ("admin:tasks_task_changelist", {"completed_at__gte": today}),
        "challenges_today": ("admin:challenges_challenge_changelist", {"generated_at__gte": today}),
        "failed_syncs_24h": (
            "admin:integrations_syncrun_changelist",
            {"status__exact": "failed", "started_at__gte": day_ago},
        ),
    }
    links = {}
    for name, (url_name, query) in wanted.items():
        try:
            links[name] = reverse(url_name) + (f"?{urlencode(query)}" if query else "")
        except NoReverseMatch:  # an app whose admin is not installed
            continue
    return links


DASHBOARD_CACHE_SECONDS = 30


def cached_dashboard_stats() -> dict:
    """The figures, computed at most every DASHBOARD_CACHE_SECONDS for all staff (shared cache)."""
    return cache.get_or_set("admin:dashboard", dashboard_stats, DASHBOARD_CACHE_SECONDS)


def second_factor_required(user) -> bool:
    return roles.second_factor_required(user)


class AdminLoginForm(AdminAuthenticationForm):
    """Password (its failures counted by django-axes), then the authenticator code when
    `second_factor_required`."""

    otp_token = forms.CharField(
        required=False,
        label="Authenticator code",
        max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
        help_text="Only if you set up an authenticator app.",
    )

    def clean(self):
        cleaned = super().clean()
        user = self.get_user()
        if user is None or not second_factor_required(user):
            return cleaned

        token = (cleaned.get("otp_token") or "").strip()
        with transaction.atomic():  # devices are locked while a code is checked (its throttle)
            devices = list(devices_for_user(user, confirmed=True, for_verify=True))
            if not devices:
                raise forms.ValidationError(
                    "Administrators sign in with an authenticator code, and this account has none yet: "
                    "a superuser can add one with `manage.py add_totp_device <email>`.",
                    code="otp_device_required",
                )
            device = next((d for d in devices if token and d.verify_token(token)), None)
        if device is None:
            raise forms.ValidationError("Enter the current code of your authenticator app.", code="invalid_otp")
        user.otp_device = device  # django_otp marks the session verified on login
        return cleaned


class DeepiriAdminSite(admin.AdminSite):
    site_header = "Deepiri administration"
    site_title = "Deepiri admin"
    index_title = "Dashboard"
    index_template = "admin/deepiri_index.html"
    login_form = AdminLoginForm
    login_template = "admin/deepiri_login.html"

    def has_permission(self, request):
        if not super().has_permission(request):
            return False
        user = request.user
        return not second_factor_required(user) or bool(getattr(user, "is_verified", lambda: False)())

    def index(self, request, extra_context=None):
        stats = cached_dashboard_stats()
        extra_context = {
            **(extra_context or {}),
            "dashboard": stats,
            # the lists as of the moment the (shared, cached) figures were counted
            "dashboard_links": dashboard_links(stats["generated_at"]),
        }
        return super().index(request, extra_context)
