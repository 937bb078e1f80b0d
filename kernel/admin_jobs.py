"""Staff screens for jobs: the outbox (waiting, published, failed) and every job that failed or
is being retried, with the error and a "re-run" action (the `change` permission; each re-run is
written to the admin's action log and the log)."""

from __future__ import annotations

import logging

from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.utils.html import format_html

from kernel import jobs
from kernel.models import JobFailure, OutboxJob

logger = logging.getLogger(__name__)


def _log(request, model, objects, message: str) -> None:
    content_type = ContentType.objects.get_for_model(model)
    for obj in objects:
        LogEntry.objects.create(
            user_id=request.user.pk, content_type_id=content_type.pk, object_id=str(obj.pk),
            object_repr=str(obj)[:200], action_flag=CHANGE, change_message=message,
        )
    logger.info("%s by %s: %s", message, request.user.pk, ", ".join(str(o) for o in objects)[:500])


def _traceback(obj) -> str:
    return format_html("<pre style='white-space:pre-wrap'>{}</pre>", obj.traceback or "-")


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields] + ["error_trace"]


class OutboxStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("waiting", "waiting"), ("published", "published (running or queued)"), ("failed", "failed")]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "waiting":
            return queryset.filter(published_at__isnull=True, failed_at__isnull=True)
        if value == "published":
            return queryset.filter(published_at__isnull=False, failed_at__isnull=True)
        if value == "failed":
            return queryset.filter(failed_at__isnull=False)
        return queryset


@admin.register(OutboxJob)
class OutboxJobAdmin(_ReadOnly):
    list_display = ("id", "task", "state", "attempts", "runs", "created_at", "published_at", "failed_at", "last_error")
    list_filter = (OutboxStateFilter, "task")
    search_fields = ("task", "last_error")
    actions = ["rerun"]
    fields = (
        "task", "args", "kwargs", "created_at", "attempts", "runs", "published_at", "claimed_until", "failed_at",
        "last_error", "error_trace", "headers",
    )

    @admin.display(description="traceback")
    def error_trace(self, obj):
        return _traceback(obj)

    @admin.action(description="Re-run the selected jobs now", permissions=["change"])
    def rerun(self, request, queryset):
        rows = list(queryset)
        published = jobs.rerun_outbox(rows)
        _log(request, OutboxJob, rows, "Re-run from the outbox")
        self.message_user(request, f"Published {published} of {len(rows)} job(s).", messages.SUCCESS)
        if published < len(rows):
            self.message_user(
                request, "The broker refused the others: they wait in the outbox for the sweep.", messages.WARNING
            )


@admin.register(JobFailure)
class JobFailureAdmin(_ReadOnly):
    list_display = ("task", "state", "exception", "error", "attempts", "first_seen", "last_seen", "request_id")
    list_filter = ("state", "task")
    search_fields = ("task", "task_id", "error", "request_id")
    date_hierarchy = "last_seen"
    actions = ["rerun"]
    fields = (
        "task", "task_id", "state", "args", "kwargs", "exception", "error", "error_trace", "attempts", "first_seen",
        "last_seen", "outbox_id", "request_id",
    )

    @admin.display(description="traceback")
    def error_trace(self, obj):
        return _traceback(obj)

    @admin.action(description="Re-run the selected jobs", permissions=["change"])
    def rerun(self, request, queryset):
        failures = list(queryset.exclude(state=JobFailure.State.RERUN))
        for failure in failures:
            jobs.rerun_failure(failure)
        _log(request, JobFailure, failures, "Re-run a failed job")
        self.message_user(request, f"Queued {len(failures)} job(s) again.", messages.SUCCESS)
