"""Staff screens for integrations: connections, sync history.

Secrets are never shown, not even encrypted: the `*_enc` fields, OAuth states and provider
secrets are not on any screen. Staff see status, last sync, last error and the run history, and
can "Sync now" (queued to the worker after commit, as the API's sync) and "Disconnect" (the
service revokes the grant at the provider where it can and wipes the secrets). The user's own
settings (auto sync, interval, challenges) change through `integrations.services.update_settings`.
"""

from __future__ import annotations

import logging

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.text import Truncator

from integrations import services
from integrations.models import Connection, ConnectionStatus, ProviderSecret, SyncRun
from integrations.providers import all_providers
from integrations.services import job_names
from integrations.webhooks import admin as webhook_admin  # noqa: F401 - registers the webhook screens
from kernel import jobs, roles

logger = logging.getLogger("integrations")

RECENT_RUNS = 15
SECRET_FIELDS = ("access_token_enc", "refresh_token_enc", "token_secret_enc")
SYNCABLE = (ConnectionStatus.CONNECTED, ConnectionStatus.ERROR)

FAILURE_LABELS = {
    "refused": "connection refused",
    "dns": "DNS lookup failed",
    "timeout": "timed out",
    "reset": "connection reset",
    "connection": "unreachable",
    "budget": "timed out (no time left to retry)",
    "too_large": "answer too large",
    "circuit_open": "paused after repeated failures",
}


def failure_label(error_class: str) -> str:
    """What a failed run's class means to staff: refused / DNS / timeout / HTTP status / ..."""
    if not error_class:
        return ""
    if error_class.startswith("http_") and error_class[5:].isdigit():
        return f"HTTP {error_class[5:]}"
    return FAILURE_LABELS.get(error_class, error_class.replace("_", " "))


# Wide tables inside a change page (sync history, the user's integrations) wrap instead of
# pushing the page sideways: fixed layout, long errors broken anywhere, full text on hover.
FIT_TABLE = "table-layout:fixed;width:100%;"
WRAP_CELL = "overflow-wrap:anywhere;word-break:break-word;"


class ConnectionSettingsForm(forms.ModelForm):
    """Only what a user may set themselves; saved through the service."""

    class Meta:
        model = Connection
        fields = ("auto_sync", "sync_interval", "generate_challenges")

    def clean_sync_interval(self):
        value = self.cleaned_data["sync_interval"]
        if value < 300:
            raise forms.ValidationError("At least 300 seconds (5 minutes).")
        if value > 7 * 86400:
            raise forms.ValidationError("At most 604800 seconds (7 days).")
        return value


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    form = ConnectionSettingsForm
    list_display = (
        "user",
        "service",
        "status",
        "last_sync_at",
        "last_sync_success",
        "short_error",
        "paused_reason",
        "auto_sync",
        "total_items_synced",
    )
    list_filter = ("service", "status", "last_sync_success", "auto_sync")
    search_fields = ("user__email", "user__name", "external_account_name", "=workspace_id")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    actions = ["sync_now", "disconnect"]
    show_full_result_count = False
    fieldsets = (
        (None, {"fields": ("user", "service", "status", "auth_type", "external_account_name", "workspace_id")}),
        ("Sync", {"fields": ("auto_sync", "sync_interval", "generate_challenges", "sync_filters_display")}),
        (
            "State",
            {
                "fields": (
                    "paused_reason",
                    "last_sync_at",
                    "next_sync_at",
                    "last_sync_success",
                    "last_error_wrapped",
                    "total_items_synced",
                    "token_state",
                )
            },
        ),
        ("Sync history", {"fields": ("sync_history",)}),
        ("Dates", {"fields": ("connected_at", "disconnected_at", "created_at", "updated_at")}),
    )
    readonly_fields = (
        "user",
        "service",
        "status",
        "auth_type",
        "external_account_name",
        "workspace_id",
        "sync_filters_display",
        "paused_reason",
        "last_sync_at",
        "next_sync_at",
        "last_sync_success",
        "last_error_wrapped",
        "total_items_synced",
        "token_state",
        "sync_history",
        "connected_at",
        "disconnected_at",
        "created_at",
        "updated_at",
    )

    def get_queryset(self, request):
        # The encrypted secrets are never even loaded for a staff screen.
        return super().get_queryset(request).defer(*SECRET_FIELDS).select_related("user")

    def has_add_permission(self, request):
        return False  # users connect through the OAuth flow

    def has_delete_permission(self, request, obj=None):
        return False  # disconnect instead (revokes at the provider, keeps the history)

    def save_model(self, request, obj, form, change):
        services.update_settings(obj, {name: form.cleaned_data[name] for name in form.changed_data})

    @admin.display(description="last error")
    def short_error(self, obj):
        return Truncator(obj.last_error).chars(80) if obj.last_error else ""

    @admin.display(description="last error")
    def last_error_wrapped(self, obj):
        return format_html('<span style="{}">{}</span>', WRAP_CELL, obj.last_error) if obj.last_error else "-"

    @admin.display(description="sync filters")
    def sync_filters_display(self, obj):
        return format_html("<code>{}</code>", obj.sync_filters)

    @admin.display(description="credentials")
    def token_state(self, obj):
        """Whether credentials are held and until when: never the secret itself."""
        if obj.status == ConnectionStatus.DISCONNECTED:
            return "none (disconnected)"
        expires = f", access expires {obj.token_expires_at:%Y-%m-%d %H:%M} UTC" if obj.token_expires_at else ""
        return f"held, encrypted ({obj.auth_type}{expires}; rotated {obj.token_version} time(s))"

    @admin.display(description="recent runs")
    def sync_history(self, obj):
        runs = list(obj.runs.order_by("-started_at")[:RECENT_RUNS])
        if not runs:
            return "No sync yet."
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>'
            '<td class="failure">{}</td><td style="{}" title="{}">{}</td></tr>',
            (
                (
                    reverse("admin:integrations_syncrun_change", args=[run.pk]),
                    f"{run.started_at:%m-%d %H:%M:%S}",
                    run.trigger,
                    run.status,
                    f"{run.duration_ms / 1000:.1f} s" if run.duration_ms is not None else "—",
                    f"+{run.created_count} ~{run.updated_count} ✓{run.completed_count}",
                    failure_label(run.error_class),
                    WRAP_CELL,
                    run.error,
                    Truncator(run.error).chars(120),
                )
                for run in runs
            ),
        )
        more = reverse("admin:integrations_syncrun_changelist") + "?" + urlencode({"connection__id__exact": obj.pk})
        return format_html(
            '<table class="sync-history" style="{}"><colgroup><col style="width:8.5em"><col style="width:5em">'
            '<col style="width:5.5em"><col style="width:5em"><col style="width:6.5em"><col style="width:9.5em"><col>'
            "</colgroup><thead><tr><th>started (UTC)</th><th>trigger</th><th>status</th>"
            "<th>took</th><th>+new ~upd ✓done</th><th>failure</th><th>error</th></tr></thead><tbody>{}</tbody></table>"
            '<p><a href="{}">All runs of this connection</a></p>',
            FIT_TABLE,
            rows,
            more,
        )

    @admin.action(description="Sync now (queued)", permissions=["change"])
    def sync_now(self, request, queryset):
        ids = list(queryset.filter(status__in=SYNCABLE).values_list("pk", flat=True))
        skipped = queryset.count() - len(ids)
        for pk in ids:
            jobs.enqueue_on_commit(job_names.SYNC_CONNECTION, pk, trigger=SyncRun.Trigger.MANUAL)
        self.message_user(request, f"Queued a sync of {len(ids)} connection(s).", messages.SUCCESS)
        if skipped:
            self.message_user(
                request, f"{skipped} skipped: disconnected or waiting for the user to reconnect.", messages.WARNING
            )

    @admin.action(description="Disconnect (revoke and wipe the secrets)", permissions=["change"])
    def disconnect(self, request, queryset):
        done = revoked = 0
        for conn in queryset.exclude(status=ConnectionStatus.DISCONNECTED).select_related("user"):
            if not roles.may_act_on(request.user, conn.user):
                self.message_user(request, roles.refused_message(conn.user), messages.ERROR)
                continue
            _, was_revoked = services.disconnect(Connection.objects.get(pk=conn.pk))
            done += 1
            revoked += bool(was_revoked)
        self.message_user(
            request, f"Disconnected {done} connection(s); {revoked} grant(s) revoked at the provider.", messages.SUCCESS
        )


@admin.register(ProviderSecret)
class ProviderSecretAdmin(admin.ModelAdmin):
    """Webhook signing keys learned from a provider's verification handshake (never shown).
    The handshake is unauthenticated, so it may set a key only inside a short window an admin
    opens here ("arm"), and only once per window."""

    list_display = ("service", "created_at", "updated_at")
    fields = ("service", "created_at", "updated_at")
    readonly_fields = fields
    change_list_template = "admin/integrations/providersecret/change_list.html"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_arm_permission(self, request) -> bool:
        return request.user.has_perm("integrations.change_providersecret")

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "arm/<str:service>/",
                self.admin_site.admin_view(self.arm_view),
                name="{}_{}_arm".format(*info),
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        handshakes = [
            {
                "service": p.slug,
                "name": p.name,
                "configured": bool(p.webhook_secret()),
                "armed_for": services.verification_armed_for(p.slug),
            }
            for p in all_providers()
            if p.webhook_handshake
        ]
        extra_context = {
            **(extra_context or {}),
            "can_arm": self.has_arm_permission(request),
            "handshakes": handshakes,
            "arm_minutes": settings.INTEGRATIONS_WEBHOOK_ARM_MINUTES,
        }
        return super().changelist_view(request, extra_context)

    def arm_view(self, request, service: str):
        if not self.has_arm_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        provider = next((p for p in all_providers() if p.slug == service and p.webhook_handshake), None)
        if provider is None:
            raise Http404
        if provider.webhook_secret():
            self.message_user(
                request,
                f"{provider.name}'s verification token is configured in the environment; nothing to arm.",
                messages.WARNING,
            )
        else:
            seconds = services.arm_verification(service)
            logger.warning("%s armed %s webhook verification for %d s", request.user.email, service, seconds)
            self.message_user(
                request,
                f"{provider.name} webhook verification armed for {seconds // 60} minutes: create (or re-send) the "
                "subscription in its console now; the first verification request sets the signing key.",
                messages.SUCCESS,
            )
        return HttpResponseRedirect(reverse("admin:integrations_providersecret_changelist"))


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    # Few, short columns: the list fits a 1280-pixel window beside the admin's navigation.
    list_display = ("started", "service", "user_name", "status", "failure", "took", "counts", "short_error")
    list_display_links = ("started",)
    list_filter = ("status", "error_class", "trigger", "connection__service", "started_at")
    search_fields = ("user__email", "=connection__id", "error")
    list_select_related = ("connection", "user")
    readonly_fields = [f.name for f in SyncRun._meta.fields]
    date_hierarchy = "started_at"
    show_full_result_count = False


    def get_queryset(self, request):
        # the change page's title and relations name accounts, not ids (kernel.models.label_of)
        return super().get_queryset(request).select_related("connection__user", "user")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="error")
    def short_error(self, obj):
        if not obj.error:
            return ""
        return format_html('<span style="{}" title="{}">{}</span>', WRAP_CELL, obj.error, Truncator(obj.error).chars(32))

    @admin.display(description="failure", ordering="error_class")
    def failure(self, obj):
        return failure_label(obj.error_class)

    @admin.display(description="service", ordering="connection__service")
    def service(self, obj):
        return obj.connection.get_service_display()

    @admin.display(description="user", ordering="user__email")
    def user_name(self, obj):
        return format_html('<span style="{}" title="{}">{}</span>', WRAP_CELL, obj.user.email, obj.user.name or obj.user.email)

    @admin.display(description="started (UTC)", ordering="started_at")
    def started(self, obj):
        return f"{obj.started_at:%m-%d %H:%M:%S}"

    @admin.display(description="took", ordering="duration_ms")
    def took(self, obj):
        return f"{obj.duration_ms / 1000:.1f} s" if obj.duration_ms is not None else "—"

    @admin.display(description="items")
    def counts(self, obj):
        return f"+{obj.created_count} ~{obj.updated_count}"


def status_html(user) -> str:
    """The user's integrations, for the user's admin page: status and last sync, never a token."""
    conns = list(
        Connection.objects.filter(user=user)
        .only("id", "service", "status", "last_sync_at", "last_sync_success", "last_error", "total_items_synced")
        .order_by("service")
    )
    if not conns:
        return "No integration."
    rows = format_html_join(
        "",
        '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
        (
            (
                reverse("admin:integrations_connection_change", args=[c.pk]),
                c.get_service_display(),
                c.status,
                f"{c.last_sync_at:%Y-%m-%d %H:%M} UTC" if c.last_sync_at else "never",
                c.total_items_synced,
                Truncator(c.last_error).chars(100),
            )
            for c in conns
        ),
    )
    return format_html(
        '<table class="integration-status" style="{}"><thead><tr><th>service</th><th>status</th><th>last sync</th>'
        "<th>items</th><th>last error</th></tr></thead><tbody>{}</tbody></table>",
        FIT_TABLE,
        rows,
    )


def failed_syncs(today, day_ago) -> dict:
    return {"failed_syncs_24h": SyncRun.objects.filter(status=SyncRun.Status.FAILED, started_at__gte=day_ago).count()}
