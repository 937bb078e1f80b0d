"""Staff screens for notifications, and the announcement form.

Notifications are created only through `notifications.services.notify` (stored, pushed live over
the socket after commit, emailed when the user wants it), so the list is read-only. The
announcement form ("Send announcement" on the list) picks an audience — every active user, a
role, users who joined or signed in recently, or a list of emails — and queues the Celery job
`admin.announce`, which notifies each recipient in batches with a per-announcement dedupe key (a
retried job never notifies anyone twice).
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, time, timedelta

from celery import shared_task
from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from kernel import jobs, roles
from notifications import services
from notifications.models import Notification, NotificationSettings, NotificationType, Priority

logger = logging.getLogger(__name__)

ANNOUNCE_BATCH = 500
MAX_EMAILS = 1000


# ------------------------------------------------------------------------------ audience
def audience_queryset(audience: dict):
    """Active users matching an audience: {kind: all|role|emails, role?, emails?, joined_after?,
    active_within_days?}. Pure query building, shared by the form (count) and the job (send)."""
    users = get_user_model().objects.filter(is_active=True)
    kind = audience.get("kind", "all")
    if kind == "role":
        role = audience["role"]
        if role == roles.USER:
            users = users.exclude(groups__name__in=roles.STAFF_ROLES).filter(is_superuser=False)
        elif role == roles.ADMIN:
            users = users.filter(Q(groups__name=role) | Q(is_superuser=True))
        else:
            users = users.filter(groups__name=role)
    elif kind == "emails":
        users = users.filter(email__in=[e.lower() for e in audience.get("emails", [])])
    if audience.get("joined_after"):
        since = datetime.combine(datetime.fromisoformat(audience["joined_after"]).date(), time.min, tzinfo=UTC)
        users = users.filter(created_at__gte=since)
    if audience.get("active_within_days"):
        users = users.filter(last_login__gte=timezone.now() - timedelta(days=int(audience["active_within_days"])))
    return users.distinct()


@shared_task(name="admin.announce", acks_late=True)
def announce(announcement_id: str, audience: dict, title: str, message: str, priority: str) -> int:
    """Notify every user of the audience (type `system`). Idempotent per announcement id."""
    sent = 0
    last_pk = ""
    base = audience_queryset(audience).order_by("pk")
    while True:
        batch = list(base.filter(pk__gt=last_pk)[:ANNOUNCE_BATCH])
        if not batch:
            break
        with transaction.atomic():
            for user in batch:
                notification = services.notify(
                    user,
                    NotificationType.SYSTEM,
                    title,
                    message,
                    data={"announcement_id": announcement_id},
                    priority=priority,
                    dedupe_key=f"announcement:{announcement_id}",
                )
                sent += notification is not None
        last_pk = batch[-1].pk
    logger.info("announcement %s delivered to %d user(s)", announcement_id, sent)
    return sent


class AnnouncementForm(forms.Form):
    AUDIENCES = [
        ("all", "Every active user"),
        ("role", "Users with a role"),
        ("emails", "These users (emails)"),
    ]

    title = forms.CharField(max_length=200)
    message = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 5, "cols": 80}))
    priority = forms.ChoiceField(choices=Priority.choices, initial=Priority.MEDIUM)
    audience = forms.ChoiceField(choices=AUDIENCES, initial="all", widget=forms.RadioSelect)
    role = forms.ChoiceField(choices=[("", "—")] + [(r, r) for r in roles.ROLE_NAMES], required=False)
    emails = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text="One per line or separated by commas.",
    )
    joined_after = forms.DateField(
        required=False, help_text="Only users who joined on or after this date (YYYY-MM-DD)."
    )
    active_within_days = forms.IntegerField(
        required=False, min_value=1, max_value=3650, help_text="Only users who signed in within this many days."
    )

    def clean_emails(self):
        raw = self.cleaned_data.get("emails") or ""
        emails = sorted({part.strip().lower() for part in raw.replace(",", "\n").splitlines() if part.strip()})
        bad = []
        for email in emails:
            try:
                validate_email(email)
            except forms.ValidationError:
                bad.append(email)
        if bad:
            raise forms.ValidationError(f"Not valid email addresses: {', '.join(bad[:10])}")
        if len(emails) > MAX_EMAILS:
            raise forms.ValidationError(f"At most {MAX_EMAILS} emails; use a role or date filter for more.")
        return emails

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("audience")
        if kind == "role" and not cleaned.get("role"):
            self.add_error("role", "Choose the role to send to.")
        if kind == "emails":
            emails = cleaned.get("emails") or []
            if not emails and "emails" not in self.errors:
                self.add_error("emails", "List at least one email.")
            elif emails:
                known = set(get_user_model().objects.filter(email__in=emails).values_list("email", flat=True))
                unknown = [e for e in emails if e not in known]
                if unknown:
                    self.add_error("emails", f"No account with: {', '.join(unknown[:10])}")
        return cleaned

    def audience_spec(self) -> dict:
        data = self.cleaned_data
        spec = {"kind": data["audience"]}
        if data["audience"] == "role":
            spec["role"] = data["role"]
        if data["audience"] == "emails":
            spec["emails"] = data["emails"]
        if data.get("joined_after"):
            spec["joined_after"] = data["joined_after"].isoformat()
        if data.get("active_within_days"):
            spec["active_within_days"] = data["active_within_days"]
        return spec


ANNOUNCE_FIELDSETS = [
    ("Message", {"fields": ["title", "message", "priority"]}),
    ("Audience", {"fields": ["audience", "role", "emails", "joined_after", "active_within_days"]}),
]


# ------------------------------------------------------------------------------ admins
class ReadFilter(admin.SimpleListFilter):
    title = "read"
    parameter_name = "read"

    def lookups(self, request, model_admin):
        return [("yes", "Read"), ("no", "Unread")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(read_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(read_at__isnull=True)
        return queryset


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("title", "user_email", "type", "priority", "status", "created_at")
    list_filter = ("type", "priority", ReadFilter, "created_at")
    search_fields = ("title", "user__email", "user__name")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    show_full_result_count = False
    readonly_fields = [f.name for f in Notification._meta.fields]
    change_list_template = "admin/notifications/notification/change_list.html"

    def has_add_permission(self, request):
        return False  # created by notify(); announcements through the form

    def has_change_permission(self, request, obj=None):
        return False

    def has_announce_permission(self, request):
        return request.user.has_perm("notifications.send_announcement")

    @admin.display(description="user", ordering="user__email")
    def user_email(self, obj):
        return obj.user.email

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("announce/", self.admin_site.admin_view(self.announce_view), name="{}_{}_announce".format(*info)),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_announce": self.has_announce_permission(request)}
        return super().changelist_view(request, extra_context)

    def announce_view(self, request):
        if not self.has_announce_permission(request):
            raise PermissionDenied
        recipients = None
        if request.method == "POST":
            form = AnnouncementForm(request.POST)
            if form.is_valid():
                spec = form.audience_spec()
                recipients = audience_queryset(spec).count()
                if recipients == 0:
                    form.add_error(None, "No active user matches this audience.")
                elif "_send" in request.POST:
                    announcement_id = uuid.uuid4().hex
                    data = form.cleaned_data
                    args = (announcement_id, spec, data["title"], data["message"], data["priority"])
                    jobs.enqueue_on_commit(announce, *args)  # a refused job waits in the outbox
                    _log(request.user, announcement_id, data["title"], recipients)
                    self.message_user(
                        request,
                        f"Announcement “{data['title']}” queued for {recipients} user(s); "
                        "they get it live and in their notifications.",
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(reverse("admin:notifications_notification_changelist"))
        else:
            form = AnnouncementForm()
        context = {
            **self.admin_site.each_context(request),
            "title": "Send an announcement",
            "opts": self.opts,
            "form": form,
            "adminform": helpers.AdminForm(form, ANNOUNCE_FIELDSETS, {}),
            "recipients": recipients,
            "has_view_permission": self.has_view_permission(request),
        }
        return TemplateResponse(request, "admin/notifications/notification/announce.html", context)


def _log(user, announcement_id: str, title: str, recipients: int) -> None:
    """Record who sent what in the admin's action log (the index's 'Recent actions')."""
    LogEntry.objects.create(
        user_id=user.pk,
        content_type_id=ContentType.objects.get_for_model(Notification).pk,
        object_id=announcement_id,
        object_repr=f"Announcement: {title}"[:200],
        action_flag=ADDITION,
        change_message=f"Sent to {recipients} user(s).",
    )


@admin.register(NotificationSettings)
class NotificationSettingsAdmin(admin.ModelAdmin):
    list_display = ("user", "in_app_enabled", "email_enabled", "updated_at")
    list_filter = ("in_app_enabled", "email_enabled")
    search_fields = ("user__email",)
    list_select_related = ("user",)
    readonly_fields = ("user", "in_app_enabled", "email_enabled", "types", "created_at", "updated_at")


    def get_queryset(self, request):
        # the change page's title and relations name accounts, not ids (kernel.models.label_of)
        return super().get_queryset(request).select_related("user")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
