"""Staff screens for outgoing webhooks: endpoints and their delivery log, read only, never a
secret (not even encrypted), with a "Resend" action on deliveries."""

from __future__ import annotations

from django.contrib import admin, messages

from integrations.webhooks import services
from integrations.webhooks.models import EndpointDelivery, EndpointStatus, WebhookEndpoint


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(_ReadOnly):
    list_display = ("url", "user", "status", "failing_since", "overflow_count", "created_at")
    list_filter = ("status",)
    search_fields = ("user__email", "=id", "url")
    list_select_related = ("user",)
    fields = (
        "id", "user", "url", "description", "event_types", "status", "disabled_reason", "failing_since",
        "not_before", "busy_until", "overflow_count", "previous_secret_expires_at", "created_at", "updated_at",
    )
    readonly_fields = fields
    show_full_result_count = False


@admin.register(EndpointDelivery)
class WebhookDeliveryAdmin(_ReadOnly):
    list_display = ("id", "event_type", "endpoint", "status", "attempt", "response_status", "duration_ms",
                    "next_attempt_at", "created_at")
    list_filter = ("status",)
    search_fields = ("=id", "=endpoint__id", "endpoint__user__email")
    list_select_related = ("event", "endpoint")
    fields = (
        "id", "event", "endpoint", "status", "attempt", "next_attempt_at", "last_attempt_at", "claimed_until",
        "response_status", "response_body", "duration_ms", "error", "created_at", "updated_at",
    )
    readonly_fields = fields
    actions = ["resend"]
    show_full_result_count = False

    @admin.display(description="event type")
    def event_type(self, obj):
        return obj.event.type

    def has_resend_permission(self, request):
        # The rows stay read only; sending again is what "change" grants here.
        return request.user.has_perm("integrations.change_endpointdelivery")

    @admin.action(description="Resend (the same webhook-id, now)", permissions=["resend"])
    def resend(self, request, queryset):
        done = skipped = 0
        for delivery in queryset.select_related("endpoint"):
            if delivery.endpoint.status != EndpointStatus.ENABLED:
                skipped += 1
                continue
            services.resend(delivery)
            done += 1
        self.message_user(request, f"{done} queued again; {skipped} skipped (endpoint disabled).", messages.INFO)
