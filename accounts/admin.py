"""Staff screens for users and API keys (issue 8).

Every state change goes through a service: activation through `accounts.services.set_active`
(a deactivated user's refresh tokens are blacklisted and access tokens refused), roles through
`kernel.roles` (only holders of `accounts.manage_roles`, i.e. the `admin` role), password resets
through `accounts.services.send_password_reset`, gamification recompute through gamification's
service. Fields that such services own (active, staff, superuser, groups, password) are read-only
in the form.
"""

from __future__ import annotations

import json

from allauth.socialaccount.models import SocialToken
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import password_validation
from django.contrib.auth.admin import GroupAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Count, F, Prefetch, Q, Value
from django.db.models.functions import Coalesce
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts import (
    admin_schedules,  # noqa: F401  (replaces the periodic-task admin)
    personal_tokens,
)
from accounts import services as account_services
from accounts.models import PersonalAccessToken, ScopedAPIKey, User
from accounts.serializers import UserSerializer
from kernel import exports, roles, wiring
from kernel.admin import active_today_q, start_of_today


class RoleFilter(admin.SimpleListFilter):
    title = "role"
    parameter_name = "role"

    def lookups(self, request, model_admin):
        return [(name, name) for name in roles.ROLE_NAMES]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset.annotate(
                gamification_points=F("gamification_profile__points"),
                gamification_level=F("gamification_profile__level"),
            )
        if value == roles.USER:  # every account holds `user`; filter for plain users
            return queryset.exclude(groups__name__in=roles.STAFF_ROLES).filter(is_superuser=False)
        if value == roles.ADMIN:
            return queryset.filter(Q(groups__name=value) | Q(is_superuser=True)).distinct()
        return queryset.filter(groups__name=value).distinct()


class ActiveTodayFilter(admin.SimpleListFilter):
    """The dashboard's "Active today": signed in, or did what an app counts (completed a task
    or a challenge) since 00:00 UTC."""

    title = "activity"
    parameter_name = "active_today"

    def lookups(self, request, model_admin):
        return [("1", "active today")]

    def queryset(self, request, queryset):
        if self.value() == "1":
            return queryset.filter(active_today_q(start_of_today()))
        return queryset


class UserCreationForm(forms.ModelForm):
    """Creates an account the way registration does (`accounts.services.register_user`)."""

    password1 = forms.CharField(label="Password", widget=forms.PasswordInput, strip=False)
    password2 = forms.CharField(label="Password (again)", widget=forms.PasswordInput, strip=False)

    class Meta:
        model = User
        fields = ("email", "name", "timezone")

    def clean_email(self):
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("A user with this email already exists.")
        return email

    def clean(self):
        cleaned = super().clean()
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords do not match.")
        elif first:
            try:
                password_validation.validate_password(first, User(email=cleaned.get("email"), name=cleaned.get("name")))
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned

    def save(self, commit=True):
        # register_user writes the row; ModelAdmin.save_model is a no-op for additions.
        self.instance = account_services.register_user(
            name=self.cleaned_data["name"],
            email=self.cleaned_data["email"],
            password=self.cleaned_data["password1"],
            timezone=self.cleaned_data.get("timezone") or "UTC",
        )
        return self.instance

    def save_m2m(self):  # nothing else to save
        return None


class ChangeRolesForm(forms.Form):
    grant = forms.MultipleChoiceField(
        choices=[(r, r) for r in (roles.STAFF, roles.MODERATOR, roles.ADMIN)],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    revoke = forms.MultipleChoiceField(
        choices=[(r, r) for r in (roles.STAFF, roles.MODERATOR, roles.ADMIN)],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def clean(self):
        cleaned = super().clean()
        both = set(cleaned.get("grant") or []) & set(cleaned.get("revoke") or [])
        if both:
            raise forms.ValidationError(f"Cannot both grant and revoke: {', '.join(sorted(both))}.")
        if not cleaned.get("grant") and not cleaned.get("revoke"):
            raise forms.ValidationError("Choose at least one role to grant or revoke.")
        return cleaned


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ("email", "name", "level", "points", "is_active", "role_list", "last_login", "joined")
    list_display_links = ("email", "name")
    # No filter or date hierarchy that needs a DISTINCT over the whole table (timezone, dates):
    # the list costs the same with 1,000 or 100,000 users (bench/admin.py).
    list_filter = ("is_active", RoleFilter, ActiveTodayFilter, "is_staff", "is_superuser", "created_at", "last_login")
    search_fields = ("email", "name", "=id")
    # Ids are time-ordered (ObjectId-shaped): newest first through the primary key's index.
    ordering = ("-id",)
    list_per_page = 50
    show_full_result_count = False
    inlines = []  # filled by register_user_inline
    actions = [
        "activate_users",
        "deactivate_users",
        "grant_staff_role",
        "revoke_staff_role",
        "change_roles",
        "send_password_reset",
        # actions from register_user_action go here
        "export_data",
    ]
    fieldsets = (
        (None, {"fields": ("id", "email", "name", "timezone", "bio", "profile_picture", "preferences")}),
        ("Status and roles", {"fields": ("is_active", "role_list", "is_staff", "is_superuser")}),
        # panels from register_user_panel go here, one section each
        ("Dates", {"fields": ("last_login", "created_at", "updated_at")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "name", "timezone", "password1", "password2")}),)
    readonly_fields = (
        "id",
        "is_active",
        "role_list",
        "is_staff",
        "is_superuser",
        "last_login",
        "created_at",
        "updated_at",
    )

    # --- permissions -----------------------------------------------------------------------
    def has_manage_roles_permission(self, request):
        return request.user.has_perm("accounts.manage_roles")

    def has_change_permission(self, request, obj=None):
        # An account of equal or higher rank (a staff member's own included) opens read-only:
        # its email, status, roles and badges are out of reach (the takeover path was editing a
        # superuser's email, then resetting "their" password).
        if obj is not None and not roles.may_change(request.user, obj):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        # Removing an account deletes everything it owns: admins only, one at a time.
        if obj is not None and not roles.may_change(request.user, obj):
            return False
        return request.user.has_perm("accounts.manage_roles") and super().has_delete_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    # --- queryset and columns ------------------------------------------------------------------
    def get_queryset(self, request):
        queryset = (
            super()
            .get_queryset(request)
            .prefetch_related(Prefetch("groups", queryset=Group.objects.only("id", "name")))
        )
        return queryset.annotate(
            gamification_points=Coalesce(F("gamification_profile__points"), Value(0)),
            gamification_level=Coalesce(F("gamification_profile__level"), Value(1)),
        )

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = UserCreationForm
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def delete_model(self, request, obj):
        account_services.delete_user(obj)

    def save_model(self, request, obj, form, change):
        if not change:
            return  # additions were saved by UserCreationForm.save() through register_user
        if "email" in form.changed_data and obj.pk != request.user.pk:
            new_email = obj.email
            obj.email = form.initial["email"]
            if request.user.has_perm("accounts.manage_roles"):
                super().save_model(request, obj, form, change)
                old_email = account_services.change_email_directly(obj, new_email, changed_by=request.user)
                # Django's own entry only says "Changed Email": the audit trail keeps both addresses.
                LogEntry.objects.log_actions(
                    user_id=request.user.pk,
                    queryset=[obj],
                    action_flag=CHANGE,
                    change_message=f"Email changed from {old_email} to {new_email}; the old address was told.",
                    single_object=True,
                )
                self.message_user(
                    request, f"Email changed to {new_email}; {old_email} was told of it.", messages.WARNING
                )
                return
            # Staff may control the address they type, so its confirmation proves nothing: the
            # account's current owner approves the move; until then the account keeps its email.
            account_services.request_email_change(obj, new_email, requested_by=request.user)
            self.message_user(
                request,
                f"The email changes to {new_email} once the owner approves it from {obj.email}.",
                messages.WARNING,
            )
        super().save_model(request, obj, form, change)

    def get_urls(self):
        tools = [
            path(
                f"<str:object_id>/{slug}/",
                self.admin_site.admin_view(self._tool_view(view)),
                name=f"accounts_user_{slug.replace('-', '_')}",
            )
            for slug, _, view in _user_tools
        ]
        return [*tools, *super().get_urls()]

    def _tool_view(self, view):
        def run(request, object_id):
            user = self.get_object(request, object_id)
            if user is None or not self.has_view_permission(request, user):
                raise PermissionDenied
            return view(self, request, user)

        return run

    def change_view(self, request, object_id, form_url="", extra_context=None):
        tools = [
            (label, reverse(f"admin:accounts_user_{slug.replace('-', '_')}", args=[object_id]))
            for slug, label, _ in _user_tools
        ]
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "user_tools": tools})

    @admin.display(description="roles")
    def role_list(self, obj):
        return ", ".join(roles.roles_of(obj))

    def get_inline_instances(self, request, obj=None):
        return [] if obj is None else super().get_inline_instances(request, obj)

    @admin.display(description="joined", ordering="created_at")
    def joined(self, obj):
        return obj.created_at

    @admin.display(description="level", ordering="gamification_level")
    def level(self, obj):
        return getattr(obj, "gamification_level", None)

    @admin.display(description="points", ordering="gamification_points")
    def points(self, obj):
        return getattr(obj, "gamification_points", None)

    # --- actions ---------------------------------------------------------------------------
    def _refuse_self_or_superuser(self, request, users):
        return changeable_users(self, request, users)

    @admin.action(description="Activate selected users", permissions=["change"])
    def activate_users(self, request, queryset):
        changed = 0
        for user in self._refuse_self_or_superuser(request, queryset.filter(is_active=False).prefetch_related("groups")):
            account_services.set_active(user, True)
            changed += 1
        self.message_user(request, f"Activated {changed} user(s).", messages.SUCCESS)

    @admin.action(description="Deactivate selected users (their tokens stop working)", permissions=["change"])
    def deactivate_users(self, request, queryset):
        changed = 0
        for user in self._refuse_self_or_superuser(request, queryset.filter(is_active=True).prefetch_related("groups")):
            account_services.set_active(user, False)
            changed += 1
        self.message_user(
            request, f"Deactivated {changed} user(s); their sessions and tokens are revoked.", messages.SUCCESS
        )

    @admin.action(description="Grant the staff role", permissions=["manage_roles"])
    def grant_staff_role(self, request, queryset):
        changed = 0
        for user in self._refuse_self_or_superuser(request, queryset):
            roles.grant_role(user, roles.STAFF)
            changed += 1
        self.message_user(request, f"Granted the staff role to {changed} user(s).", messages.SUCCESS)

    @admin.action(description="Revoke the staff role", permissions=["manage_roles"])
    def revoke_staff_role(self, request, queryset):
        changed = 0
        for user in self._refuse_self_or_superuser(request, queryset):
            roles.revoke_role(user, roles.STAFF)
            changed += 1
        self.message_user(request, f"Revoked the staff role from {changed} user(s).", messages.SUCCESS)

    @admin.action(description="Change roles…", permissions=["manage_roles"])
    def change_roles(self, request, queryset):
        if "apply" in request.POST:
            form = ChangeRolesForm(request.POST)
            if form.is_valid():
                changed = 0
                for user in self._refuse_self_or_superuser(request, queryset):
                    current = {g.name for g in user.groups.all() if g.name in roles.ROLE_NAMES}
                    roles.set_roles(
                        user, (current | set(form.cleaned_data["grant"])) - set(form.cleaned_data["revoke"])
                    )
                    changed += 1
                self.message_user(request, f"Changed the roles of {changed} user(s).", messages.SUCCESS)
                return None
        else:
            form = ChangeRolesForm()
        return TemplateResponse(
            request,
            "admin/accounts/user/change_roles.html",
            {
                **self.admin_site.each_context(request),
                "title": "Change roles",
                "opts": self.model._meta,
                "users": queryset,
                "form": form,
                "adminform": admin.helpers.AdminForm(form, [(None, {"fields": ["grant", "revoke"]})], {}),
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )

    @admin.action(description="Send a password reset email", permissions=["change"])
    def send_password_reset(self, request, queryset):
        sent = 0
        for user in readable_users(self, request, queryset.filter(is_active=True).prefetch_related("groups")):
            account_services.send_password_reset(user)
            sent += 1
        skipped = queryset.filter(is_active=False).count()
        note = f" ({skipped} inactive skipped)" if skipped else ""
        self.message_user(request, f"Sent {sent} password reset email(s){note}.", messages.SUCCESS)

    @admin.action(description="Export data (JSON)", permissions=["change"])
    def export_data(self, request, queryset):
        users = list(queryset.prefetch_related("groups")[:50])
        if len(users) < queryset.count():
            self.message_user(request, "Export at most 50 users at a time.", messages.ERROR)
            return None
        if len(readable_users(self, request, users)) < len(users):
            self.message_user(request, "Nothing was exported.", messages.ERROR)
            return None
        payload = {user.pk: {"user": UserSerializer(user).data, **exports.export_user(user)} for user in users}
        if len(users) == 1:
            payload = next(iter(payload.values()))
            filename = f"deepiri-export-{users[0].pk}.json"
        else:
            filename = f"deepiri-export-{timezone.now():%Y%m%d-%H%M%S}.json"
        response = HttpResponse(json.dumps(payload, cls=DjangoJSONEncoder, indent=2), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


def changeable_users(model_admin, request, users) -> list:
    """The users the signed-in member may change (`kernel.roles.may_change`): never themselves,
    never an equal or higher role; each refused one is reported on the page. Every action that
    changes the selected accounts, this app's or a registered one, filters through this."""
    allowed = []
    for user in users:
        if user.pk == request.user.pk and not request.user.is_superuser:
            model_admin.message_user(request, "You cannot change your own account this way.", messages.ERROR)
        elif not roles.may_change(request.user, user):
            model_admin.message_user(
                request, f"Only a higher role may change {user.email} ({', '.join(roles.roles_of(user))}).",
                messages.ERROR,
            )
        else:
            allowed.append(user)
    return allowed


def readable_users(model_admin, request, users) -> list:
    """The users whose data the signed-in member may export or have mailed (a reset link): their
    own account, or one they may change (`kernel.roles.may_change`). A lower role reading a
    higher account's data, or mailing it reset links, is refused with a message per account."""
    allowed = []
    for user in users:
        if user.pk == request.user.pk or roles.may_change(request.user, user):
            allowed.append(user)
        else:
            model_admin.message_user(
                request,
                f"Only a higher role may read or mail {user.email} ({', '.join(roles.roles_of(user))}).",
                messages.ERROR,
            )
    return allowed


# ------------------------------------------------------------------------------ the user page's registry
# Sections of the change page in the order they are shown, between the status and the dates,
# whatever order the apps' admin modules are imported in; a section not listed goes last.
PANEL_SECTIONS = ("Gamification", "Integrations", "Analytics")
_BASE_FIELDSETS = UserAdmin.fieldsets
_BASE_READONLY = UserAdmin.readonly_fields
_BASE_ACTIONS = UserAdmin.actions
_panels: dict[str, list[str]] = {}
_registered_actions: list = []


def _section_key(section: str) -> int:
    return PANEL_SECTIONS.index(section) if section in PANEL_SECTIONS else len(PANEL_SECTIONS)


def register_user_panel(name: str, label: str, render, *, section: str) -> None:
    """Show `render(user)` (safe HTML or text) read-only on the user's change page, as field
    `name` labelled `label`, in the fieldset `section`."""

    def panel(model_admin, obj):
        return render(obj)

    panel.__name__ = name
    setattr(UserAdmin, name, admin.display(description=label)(panel))
    wiring.record("user admin panels", f"{section}: {name}", render)
    fields = _panels.setdefault(section, [])
    if name not in fields:
        fields.append(name)
    sections = sorted(_panels, key=_section_key)
    *head, dates = _BASE_FIELDSETS
    UserAdmin.fieldsets = (*head, *((s, {"fields": tuple(_panels[s])}) for s in sections), dates)
    UserAdmin.readonly_fields = (*_BASE_READONLY, *(f for s in sections for f in _panels[s]))


def register_user_inline(inline) -> None:
    """Add an inline (an `InlineModelAdmin` subclass) to the user's change page."""
    if inline not in UserAdmin.inlines:
        UserAdmin.inlines = [*UserAdmin.inlines, inline]
    wiring.record("user admin inlines", inline.__name__, inline)


_user_tools: list[tuple[str, str, object]] = []


def register_user_tool(slug: str, label: str, view) -> None:
    """A button on the user's change page (beside "History") opening `view(model_admin, request,
    user)` at /admin/accounts/user/<id>/<slug>/, behind the admin's login and the user's view
    permission. The view checks its own permissions (and rank) before it changes anything."""
    if slug not in {tool[0] for tool in _user_tools}:
        _user_tools.append((slug, label, view))
    wiring.record("user admin tools", slug, view)


def register_user_action(action) -> None:
    """Offer an admin action (a function decorated with `admin.action`) on the user list, before
    the export. An action that changes the selected users filters them with `changeable_users`."""
    wiring.record("user admin actions", action.__name__, action)
    if action not in _registered_actions:
        _registered_actions.append(action)
        *own, export = _BASE_ACTIONS  # the export stays last
        UserAdmin.actions = [*own, *_registered_actions, export]


@admin.register(ScopedAPIKey)
class ScopedAPIKeyAdmin(APIKeyModelAdmin):
    """API keys for machine clients. Only the `admin` role holds these permissions; the key is
    shown once, when it is created, and only its hash is stored."""

    list_display = [*APIKeyModelAdmin.list_display, "scope"]
    list_filter = [*APIKeyModelAdmin.list_filter, "scope"]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and "scope" not in fields:
            fields.append("scope")  # a key's scope is fixed; issue a new key for another scope
        return fields


@admin.register(PersonalAccessToken)
class PersonalAccessTokenAdmin(admin.ModelAdmin):
    """Users' personal access tokens, for staff: who holds which scopes until when, and when each
    was last used. Never the secret or its hash; nothing is edited here. "Revoke" ends a token on
    its next request, for the accounts the member may change (`roles.may_change`)."""

    list_display = ["name", "user", "scope_list", "prefix", "expiry_date", "last_used_at", "revoked", "created"]
    list_filter = ["revoked"]
    list_select_related = ["user"]
    search_fields = ["name", "prefix", "user__email"]
    fields = ["name", "user", "scope_list", "prefix", "expiry_date", "last_used_at", "revoked", "created"]
    readonly_fields = fields
    actions = ["revoke_tokens"]
    ordering = ["-created"]

    @admin.display(description="scopes")
    def scope_list(self, obj):
        return ", ".join(obj.scopes or [])

    def has_add_permission(self, request):
        return False  # issued by their owners through the API, shown to them once

    def has_change_permission(self, request, obj=None):
        # Viewing only (the page is read-only); "change" is what the revoke action needs.
        return super().has_change_permission(request, obj) and obj is None

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke_tokens(self, request, queryset):
        allowed = [pat.pk for pat in queryset.select_related("user") if roles.may_change(request.user, pat.user)]
        skipped = queryset.count() - len(allowed)
        done = personal_tokens.revoke(PersonalAccessToken.objects.filter(pk__in=allowed))
        self.message_user(request, f"Revoked {done} token(s).", messages.SUCCESS)
        if skipped:
            self.message_user(
                request, f"Skipped {skipped} token(s) of accounts you may not change.", messages.WARNING
            )


# ------------------------------------------------------------------------------ secrets stay hidden
# Third-party admins that would show a secret: the stock API key model (we use ScopedAPIKey),
# allauth's social tokens (OAuth access tokens), and simplejwt's outstanding tokens (the full
# refresh JWT on the change page). Replaced by a token-free view or removed.
for _model in (APIKey, SocialToken, OutstandingToken, Group):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


@admin.register(Group)
class RoleAwareGroupAdmin(GroupAdmin):
    """Django's group admin, with the four role groups read-only: their permissions are defined
    in `kernel/roles.py` and re-applied on every migrate, so an edit here would not last."""

    list_display = ("name", "is_role", "permission_count")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(permission_total=Count("permissions"))

    @admin.display(boolean=True, description="role")
    def is_role(self, obj):
        return obj.name in roles.ROLE_NAMES

    @admin.display(description="permissions", ordering="permission_total")
    def permission_count(self, obj):
        return obj.permission_total

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.name in roles.ROLE_NAMES:
            return ("name", "permissions")
        return super().get_readonly_fields(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.name in roles.ROLE_NAMES:
            return False
        return super().has_delete_permission(request, obj)


@admin.register(OutstandingToken)
class OutstandingTokenAdmin(admin.ModelAdmin):
    """Issued refresh tokens, by id only (never the token): who holds a session, until when,
    and whether it was revoked."""

    list_display = ("jti", "user", "created_at", "expires_at", "revoked")
    search_fields = ("user__email", "=jti")
    list_select_related = ("user", "blacklistedtoken")
    fields = ("jti", "user", "created_at", "expires_at", "revoked")
    readonly_fields = fields
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(boolean=True, description="revoked")
    def revoked(self, obj):
        return hasattr(obj, "blacklistedtoken")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# ------------------------------------------------------------------------------ authenticator devices
# Whoever may change a device may weaken or clone a second factor: only for accounts the member
# may change (`roles.may_change`), and the secret is never shown after creation
# (OTP_ADMIN_HIDE_SENSITIVE_DATA).
if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)


@admin.register(TOTPDevice)
class GuardedTOTPDeviceAdmin(TOTPDeviceAdmin):
    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        lower = [user.pk for user in User.objects.filter(pk__in=queryset.values("user_id")).prefetch_related("groups")
                 if roles.may_change(request.user, user)]
        return queryset.filter(user_id__in=lower)

    def has_change_permission(self, request, obj=None):
        if obj is not None and not roles.may_change(request.user, obj.user):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and not roles.may_change(request.user, obj.user):
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        if not roles.may_change(request.user, obj.user):
            raise PermissionDenied("Only a higher role may give this account an authenticator.")
        super().save_model(request, obj, form, change)
