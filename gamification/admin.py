"""Staff screens for gamification: badges, awards, the ledger, profiles.

- Badges are created and edited with their criteria validated in the form
  (`gamification.rules.validate_criteria`, through `Badge.clean`), an icon preview and the number
  of holders. The actions "Award to users…" and "Revoke from users…" pay or reverse the badge's
  points through the ledger (gamification services) and the user is notified live (the
  notifications app reacts to `badge.awarded`).
- Awards (UserBadge), ledger entries and profiles are read-only: they change only through the
  services (revoke, recompute from the ledger).
- On the user's page (through the accounts admin's registry): the summary and recent ledger
  panels, the badges inline, and the actions "Recompute gamification" and "Adjust points…" (the
  latter only for accounts the member may change, `accounts.admin.changeable_users`).
"""

from __future__ import annotations

import json
import uuid

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.validators import MaxValueValidator
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from accounts.admin import changeable_users
from gamification import rules, services
from gamification.models import (
    BADGE_POINTS_ADMIN_THRESHOLD,
    BADGE_POINTS_MAX,
    Badge,
    GamificationProfile,
    LedgerEntry,
    UserBadge,
)
from kernel import roles

RECENT_LEDGER_ROWS = 20
MAX_RECIPIENTS = 500

CRITERIA_HELP = format_html(
    "A JSON object. <code>{}</code>: <code>metric</code> one of {}; <code>{}</code>: <code>metric</code> one of {}; "
    "<code>{}</code>: <code>event</code> one of {}, optional <code>filters</code> "
    '(e.g. <code>{{"priority": "urgent", "local_hour__lt": 8}}</code>, operators {}). '
    "Each needs a whole-number <code>value</code> ≥ 1.",
    "count",
    ", ".join(rules.COUNT_METRICS),
    "threshold",
    ", ".join(rules.THRESHOLD_METRICS),
    "event_count",
    ", ".join(rules.EVENT_FACTS),
    ", ".join(rules.FILTER_OPS),
)


# ------------------------------------------------------------------------------ service calls
def award_badge(user, badge: Badge, *, by=None) -> tuple[UserBadge | None, str]:
    """Award `badge` to `user` through the gamification service: points and XP through the ledger
    (idempotent per user and badge), the profile's badge list, and `badge.awarded` (which notifies
    the user live). Returns (award, outcome) with outcome "awarded", "already" or "revoked"."""
    return services.grant_badge(user, badge)


# ------------------------------------------------------------------------------ forms
class BadgeForm(forms.ModelForm):
    criteria = forms.JSONField(
        help_text=CRITERIA_HELP,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80, "spellcheck": "false"}),
        initial={"type": "count", "metric": "tasks_completed", "value": 1},
    )

    class Meta:
        model = Badge
        fields = (
            "name",
            "slug",
            "icon",
            "description",
            "category",
            "rarity",
            "criteria",
            "points",
            "active",
            "sort_order",
        )

    may_exceed_threshold = False  # set per request by BadgeAdmin.get_form (the admin role)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["points"].max_value = BADGE_POINTS_MAX
        self.fields["points"].widget.attrs["max"] = BADGE_POINTS_MAX
        self.fields["points"].validators.append(MaxValueValidator(BADGE_POINTS_MAX))

    def clean_points(self):
        points = self.cleaned_data["points"]
        if points > BADGE_POINTS_ADMIN_THRESHOLD and not self.may_exceed_threshold:
            raise forms.ValidationError(
                f"Badges worth more than {BADGE_POINTS_ADMIN_THRESHOLD:,} points are set by an admin."
            )
        return points

    def clean_criteria(self):
        criteria = self.cleaned_data["criteria"]
        errors = rules.validate_criteria(criteria)
        if errors:
            raise forms.ValidationError(
                [f"{key}: {message}" for key, messages_ in errors.items() for message in messages_]
            )
        return criteria


class RecipientsForm(forms.Form):
    users = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text="Emails or user ids, one per line or separated by commas.",
    )
    reason = forms.CharField(max_length=300, required=False, help_text="Kept with a revocation.")

    def clean_users(self):
        raw = [part.strip() for part in self.cleaned_data["users"].replace(",", "\n").splitlines() if part.strip()]
        if not raw:
            raise forms.ValidationError("List at least one user.")
        if len(raw) > MAX_RECIPIENTS:
            raise forms.ValidationError(f"At most {MAX_RECIPIENTS} users at a time.")
        lowered = [value.lower() for value in raw]
        User = get_user_model()
        found = list(User.objects.filter(Q(email__in=lowered) | Q(pk__in=raw)))
        known = {u.email for u in found} | {u.pk for u in found}
        unknown = [value for value, low in zip(raw, lowered, strict=True) if value not in known and low not in known]
        if unknown:
            raise forms.ValidationError(f"No account with: {', '.join(unknown[:10])}")
        return found


# ------------------------------------------------------------------------------ badges
@admin.register(Badge)
class BadgeAdmin(admin.ModelAdmin):
    form = BadgeForm
    list_display = ("icon_preview", "name", "slug", "category", "rarity", "points", "holders", "active")
    list_display_links = ("icon_preview", "name")
    list_filter = ("active", "category", "rarity")
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("icon_preview_large", "holders", "criteria_pretty")
    ordering = ("sort_order", "slug")
    actions = ["award_to_users", "revoke_from_users", "activate", "deactivate"]
    fieldsets = (
        (None, {"fields": ("name", "slug", ("icon", "icon_preview_large"), "description")}),
        ("Rules", {"fields": ("category", "rarity", "criteria", "points", "active", "sort_order")}),
        ("Holders", {"fields": ("holders",)}),
    )

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(holder_count=Count("awards", filter=Q(awards__revoked_at__isnull=True), distinct=True))
        )

    def get_fieldsets(self, request, obj=None):
        if obj is None:  # no holders yet
            return self.fieldsets[:2]
        return self.fieldsets

    @staticmethod
    def _is_admin(request) -> bool:
        return roles.rank_of(request.user) >= roles.RANK[roles.ADMIN]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.may_exceed_threshold = self._is_admin(request)
        return form

    def has_change_permission(self, request, obj=None):
        # A high-value badge stays as an admin set it (criteria included: easing them would
        # hand its points out just the same).
        if obj is not None and obj.points > BADGE_POINTS_ADMIN_THRESHOLD and not self._is_admin(request):
            return False
        return super().has_change_permission(request, obj)

    @admin.display(description="icon")
    def icon_preview(self, obj):
        return format_html('<span class="badge-icon" style="font-size:1.6em" title="{}">{}</span>', obj.icon, obj.icon)

    @admin.display(description="preview")
    def icon_preview_large(self, obj):
        if obj is None or not obj.icon:
            return "—"
        return format_html(
            '<span class="badge-icon-large" style="font-size:3em;line-height:1" title="{}">{}</span>',
            obj.icon,
            obj.icon,
        )

    @admin.display(description="holders", ordering="holder_count")
    def holders(self, obj):
        count = getattr(obj, "holder_count", None)
        if count is None:
            count = obj.awards.filter(revoked_at__isnull=True).count()
        return count

    @admin.display(description="criteria")
    def criteria_pretty(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.criteria, indent=2, ensure_ascii=False))

    # --- actions -----------------------------------------------------------------------------
    def _recipients_step(self, request, queryset, action_name: str, title: str):
        """Intermediate page: choose users. Returns (form, badges) when submitted and valid."""
        if "apply" in request.POST:
            form = RecipientsForm(request.POST)
            if form.is_valid():
                return form, None
        else:
            form = RecipientsForm()
        response = TemplateResponse(
            request,
            "admin/gamification/badge/recipients.html",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "opts": self.model._meta,
                "badges": queryset,
                "form": form,
                "adminform": helpers.AdminForm(
                    form,
                    [(None, {"fields": ["users", "reason"] if action_name == "revoke_from_users" else ["users"]})],
                    {},
                ),
                "action_name": action_name,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )
        return None, response

    @admin.action(description="Award to users…", permissions=["award"])
    def award_to_users(self, request, queryset):
        form, response = self._recipients_step(request, queryset, "award_to_users", "Award badges")
        if form is None:
            return response
        outcomes = {"awarded": 0, "already": 0, "revoked": 0}
        inactive = [badge.name for badge in queryset if not badge.active]
        refused = []
        for badge in queryset:
            if badge.points > BADGE_POINTS_ADMIN_THRESHOLD and not self._is_admin(request):
                refused.append(f"{badge.name} (worth {badge.points:,} points: admins only)")
                continue
            for user in form.cleaned_data["users"]:
                if user.pk == request.user.pk and badge.points > 0:
                    refused.append(f"{badge.name} to yourself (it carries points)")
                    continue
                if not roles.may_act_on(request.user, user):
                    refused.append(f"{badge.name} to {user.email} (only a higher role may)")
                    continue
                _, outcome = award_badge(user, badge, by=request.user)
                outcomes[outcome] += 1
        if refused:
            self.message_user(request, f"Not awarded: {'; '.join(refused)}.", messages.ERROR)
        self.message_user(
            request,
            f"Awarded {outcomes['awarded']} badge(s); {outcomes['already']} already held.",
            messages.SUCCESS,
        )
        if outcomes["revoked"]:
            self.message_user(
                request,
                f"{outcomes['revoked']} award(s) skipped: the badge was revoked from that user before and is not handed out again.",
                messages.WARNING,
            )
        if inactive:
            self.message_user(
                request, f"Note: inactive badge(s) awarded by hand: {', '.join(inactive)}.", messages.INFO
            )
        return None

    @admin.action(description="Revoke from users…", permissions=["award"])
    def revoke_from_users(self, request, queryset):
        form, response = self._recipients_step(request, queryset, "revoke_from_users", "Revoke badges")
        if form is None:
            return response
        users = form.cleaned_data["users"]
        awards = UserBadge.objects.filter(badge__in=queryset, user__in=users, revoked_at__isnull=True)
        revoked = 0
        for user_badge in awards.select_related("user"):
            if not roles.may_act_on(request.user, user_badge.user):
                self.message_user(request, roles.refused_message(user_badge.user), messages.ERROR)
                continue
            services.revoke_badge(user_badge, by=request.user, reason=form.cleaned_data["reason"])
            revoked += 1
        self.message_user(request, f"Revoked {revoked} award(s); their points were reversed.", messages.SUCCESS)
        return None

    @admin.action(description="Activate (awarded automatically)", permissions=["change"])
    def activate(self, request, queryset):
        self.message_user(request, f"Activated {queryset.update(active=True)} badge(s).", messages.SUCCESS)

    @admin.action(description="Deactivate (no longer awarded automatically)", permissions=["change"])
    def deactivate(self, request, queryset):
        self.message_user(request, f"Deactivated {queryset.update(active=False)} badge(s).", messages.SUCCESS)

    def has_award_permission(self, request):
        return request.user.has_perm("gamification.add_userbadge") and request.user.has_perm(
            "gamification.change_userbadge"
        )


# ------------------------------------------------------------------------------ awards
class AwardStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("active", "Held"), ("revoked", "Revoked")]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(UserBadge)
class UserBadgeAdmin(admin.ModelAdmin):
    list_display = ("badge", "user", "earned_at", "is_held", "revoked_at", "revoked_by")
    list_filter = (AwardStatusFilter, "badge", "earned_at")
    search_fields = ("user__email", "user__name", "badge__name", "badge__slug")
    list_select_related = ("badge", "user", "revoked_by")
    readonly_fields = ("user", "badge", "earned_at", "ledger_entry", "revoked_at", "revoked_by", "revoke_reason")
    actions = ["revoke"]
    date_hierarchy = "earned_at"


    def get_queryset(self, request):
        # the change page's title and relations name accounts, not ids (kernel.models.label_of)
        return super().get_queryset(request).select_related("badge", "user", "revoked_by")

    def has_add_permission(self, request):
        return False  # awards are made with the badge's "Award to users…" action

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the points are reversed and the record kept

    @admin.display(description="held", boolean=True)
    def is_held(self, obj):
        return obj.revoked_at is None

    @admin.action(description="Revoke selected awards (points reversed)", permissions=["change"])
    def revoke(self, request, queryset):
        count = 0
        for user_badge in queryset.filter(revoked_at__isnull=True).select_related("user"):
            if not roles.may_act_on(request.user, user_badge.user):
                self.message_user(request, roles.refused_message(user_badge.user), messages.ERROR)
                continue
            services.revoke_badge(user_badge, by=request.user, reason="revoked in the admin")
            count += 1
        self.message_user(request, f"Revoked {count} award(s).", messages.SUCCESS)

    def save_model(self, request, obj, form, change):  # nothing is editable
        return None


class UserBadgeInline(admin.TabularInline):
    """On the user's page: the badges they hold or held (read-only; award and revoke from Badges)."""

    model = UserBadge
    fk_name = "user"
    fields = ("badge", "earned_at", "revoked_at", "revoke_reason")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "badges"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("badge")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("gamification.view_userbadge")


# ------------------------------------------------------------------------------ ledger
@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user", "points", "xp", "reason", "source", "occurred_at")
    list_filter = ("source", "created_at")
    search_fields = ("user__email", "reason", "=source_id", "=idempotency_key")
    list_select_related = ("user",)
    readonly_fields = [f.name for f in LedgerEntry._meta.fields]
    date_hierarchy = "created_at"
    show_full_result_count = False


    def get_queryset(self, request):
        # the change page's title and relations name accounts, not ids (kernel.models.label_of)
        return super().get_queryset(request).select_related("user")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def recent_ledger_html(user) -> str:
    rows = list(
        LedgerEntry.objects.filter(user=user)
        .order_by("-created_at")
        .values_list("created_at", "points", "xp", "reason", "source")[:RECENT_LEDGER_ROWS]
    )
    if not rows:
        return "No ledger rows yet."
    body = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (f"{created:%Y-%m-%d %H:%M}", f"{points:+d}", f"{xp:+d}", reason, source)
            for created, points, xp, reason, source in rows
        ),
    )
    return format_html(
        '<table class="recent-ledger"><thead><tr><th>when (UTC)</th><th>points</th><th>xp</th><th>reason</th>'
        "<th>source</th></tr></thead><tbody>{}</tbody></table>",
        body,
    )


# ------------------------------------------------------------------------------ profiles
@admin.register(GamificationProfile)
class GamificationProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "points", "level", "xp", "daily_current", "tasks_completed", "challenges_completed")
    list_filter = ("level", "show_leaderboard")
    search_fields = ("user__email", "user__name")
    list_select_related = ("user",)
    readonly_fields = [f.name for f in GamificationProfile._meta.fields]
    actions = ["recompute"]
    ordering = ("-points",)
    show_full_result_count = False


    def get_queryset(self, request):
        # the change page's title and relations name accounts, not ids (kernel.models.label_of)
        return super().get_queryset(request).select_related("user")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # Only the action below changes a profile; the form is read-only.
        return False

    def has_recompute_permission(self, request):
        return request.user.has_perm("accounts.change_user")

    @admin.action(description="Recompute from the ledger", permissions=["recompute"])
    def recompute(self, request, queryset):
        drift = []
        for profile in queryset.select_related("user"):
            drift.extend(services.rebuild_user(profile.user))
        report_recompute(self, request, queryset.count(), drift)


def report_recompute(model_admin, request, count: int, drift: list[str]) -> None:
    if drift:
        shown = "; ".join(drift[:5]) + (f"; and {len(drift) - 5} more" if len(drift) > 5 else "")
        model_admin.message_user(request, f"Recomputed {count} user(s); fixed: {shown}", messages.WARNING)
    else:
        model_admin.message_user(
            request, f"Recomputed {count} user(s); everything matched the ledger.", messages.SUCCESS
        )


# ------------------------------------------------------------------------------ on the user's page
def gamification_summary_html(user) -> str:
    profile = GamificationProfile.objects.filter(user=user).first()
    if profile is None:
        return "No points yet."
    return format_html(
        "{} points · level {} · {} XP · daily streak {} (longest {}) · {} tasks, {} challenges completed",
        profile.points,
        profile.level,
        profile.xp,
        profile.daily_current,
        profile.daily_longest,
        profile.tasks_completed,
        profile.challenges_completed,
    )


class AdjustPointsForm(forms.Form):
    points = forms.IntegerField(min_value=-100_000, max_value=100_000, help_text="Negative to deduct.")
    xp = forms.IntegerField(
        min_value=-100_000, max_value=100_000, required=False, help_text="Defaults to the same as the points."
    )
    reason = forms.CharField(max_length=150, help_text="Kept on the ledger row and shown to the user.")
    key = forms.CharField(widget=forms.HiddenInput)  # one adjustment per form, even if posted twice

    def clean_points(self):
        value = self.cleaned_data["points"]
        if value == 0:
            raise forms.ValidationError("Give a number of points other than 0.")
        return value


@admin.action(description="Recompute gamification from the ledger", permissions=["change"])
def recompute_gamification(model_admin, request, queryset):
    drift = []
    for user in queryset:
        drift.extend(services.rebuild_user(user))
    report_recompute(model_admin, request, queryset.count(), drift)


@admin.action(description="Adjust points…", permissions=["change"])
def adjust_points(model_admin, request, queryset):
    """A manual ledger entry (source `admin`) for each selected user, through the gamification
    service: totals, level, leaderboards and `points.awarded` follow as for any award."""
    users = changeable_users(model_admin, request, queryset)
    if not users:
        return None
    if "apply" in request.POST:
        form = AdjustPointsForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            xp = data["xp"] if data["xp"] is not None else data["points"]
            profiles = {
                p.user_id: p for p in GamificationProfile.objects.filter(user__in=users).only("user_id", "points", "xp")
            }
            short = [
                u.email
                for u in users
                if (getattr(profiles.get(u.pk), "points", 0) + data["points"] < 0)
                or (getattr(profiles.get(u.pk), "xp", 0) + xp < 0)
            ]
            if short:
                form.add_error("points", f"Would take below zero: {', '.join(short[:10])}")
            else:
                created = 0
                for user in users:
                    result = services.award(
                        user,
                        points=data["points"],
                        xp=xp,
                        reason=f"admin: {data['reason']}",
                        source="admin",
                        source_id=str(request.user.pk),
                        idempotency_key=f"admin:{data['key']}:{user.pk}",
                    )
                    created += result.created
                model_admin.message_user(
                    request, f"Adjusted the points of {created} user(s) by {data['points']:+d}.", messages.SUCCESS
                )
                return None
    else:
        form = AdjustPointsForm(initial={"key": uuid.uuid4().hex})
    return TemplateResponse(
        request,
        "admin/accounts/user/adjust_points.html",
        {
            **model_admin.admin_site.each_context(request),
            "title": "Adjust points",
            "opts": model_admin.model._meta,
            "users": users,
            "form": form,
            "adminform": helpers.AdminForm(form, [(None, {"fields": ["points", "xp", "reason", "key"]})], {}),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        },
    )


class AwardBadgeForm(forms.Form):
    badge = forms.ModelChoiceField(queryset=Badge.objects.order_by("name"), help_text="Inactive badges may be awarded by hand.")
    reason = forms.CharField(max_length=200, help_text="Why: kept in the user's history.")


def award_badge_to_user(model_admin, request, user):
    """The user page's "Award a badge…": one badge to this user through the gamification
    service (ledger, profile, `badge.awarded`), refused below the user's rank, for oneself when
    the badge carries points, and above the legendary threshold for anyone but admins; each
    award is written to the user's admin history."""
    if not (request.user.has_perm("gamification.add_userbadge") and request.user.has_perm("gamification.change_userbadge")):
        raise PermissionDenied
    back = reverse("admin:accounts_user_change", args=[user.pk])
    if not roles.may_act_on(request.user, user):
        model_admin.message_user(request, roles.refused_message(user), messages.ERROR)
        return HttpResponseRedirect(back)
    form = AwardBadgeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        badge, reason = form.cleaned_data["badge"], form.cleaned_data["reason"]
        if badge.points > BADGE_POINTS_ADMIN_THRESHOLD and roles.rank_of(request.user) < roles.RANK[roles.ADMIN]:
            form.add_error("badge", f"Worth {badge.points:,} points: admins only.")
        elif user.pk == request.user.pk and badge.points > 0:
            form.add_error("badge", "Not to yourself: it carries points.")
        else:
            _, outcome = award_badge(user, badge, by=request.user)
            if outcome == "awarded":
                LogEntry.objects.log_actions(
                    user_id=request.user.pk,
                    queryset=[user],
                    action_flag=CHANGE,
                    change_message=f"Awarded the badge {badge.name} ({badge.points:+d} points): {reason}",
                    single_object=True,
                )
                model_admin.message_user(request, f"Awarded {badge.name} to {user.email}.", messages.SUCCESS)
            elif outcome == "already":
                model_admin.message_user(request, f"{user.email} already holds {badge.name}.", messages.WARNING)
            else:
                model_admin.message_user(
                    request, f"{badge.name} was revoked from {user.email} before and is not handed out again.",
                    messages.WARNING,
                )
            return HttpResponseRedirect(back)
    return TemplateResponse(
        request,
        "admin/accounts/user/award_badge.html",
        {**model_admin.admin_site.each_context(request), "title": "Award a badge", "opts": model_admin.model._meta,
         "target": user, "form": form},
    )

