"""Staff screens for tasks (issue 8).

Tasks belong to their users: the screen is for looking (filters by status, type, priority,
source; search by title and user) and for two service actions — generate a challenge (queued to
the worker, as the API's generate) and, for a task created by mistake through an import, delete
through `tasks.services.delete_task` (its challenges go with it). Completion data and the AI's
classification are read-only.
"""

from __future__ import annotations

from django.contrib import admin, messages

from challenges import services as challenge_services
from tasks import services
from tasks.models import Task


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ("title", "user", "type", "status", "priority", "due_date", "source", "completed_at", "created_at")
    list_filter = ("status", "type", "priority", "source", "due_date", "completed_at")
    search_fields = ("title", "user__email", "user__name", "=source_id")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ["generate_challenge", "delete_tasks"]
    readonly_fields = [f.name for f in Task._meta.fields]
    fieldsets = (
        (None, {"fields": ("id", "user", "title", "description", "type", "status", "priority", "tags")}),
        ("Due", {"fields": ("due_date", "due_date_only", "estimated_duration")}),
        ("Source", {"fields": ("source", "source_id", "source_url")}),
        ("Understanding (AI)", {"fields": ("classification", "user_set_fields", "challenge")}),
        ("Completion", {"fields": ("completed_at", "actual_duration", "efficiency", "completion_notes")}),
        ("Dates", {"fields": ("created_at", "updated_at")}),
    )

    def has_add_permission(self, request):
        return False  # users create their tasks

    def has_delete_permission(self, request, obj=None):
        return False  # the action below deletes through the service

    def has_service_delete_permission(self, request):
        return request.user.has_perm("tasks.delete_task")

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Generate a challenge (queued)", permissions=["change"])
    def generate_challenge(self, request, queryset):
        tasks = list(queryset.select_related("user"))
        for task in tasks:
            challenge_services.request_generation(task.user, task)
        self.message_user(request, f"Queued {len(tasks)} challenge(s) for generation.", messages.SUCCESS)

    @admin.action(description="Delete selected tasks (and their challenges)", permissions=["service_delete"])
    def delete_tasks(self, request, queryset):
        tasks = list(queryset.select_related("user"))
        for task in tasks:
            services.delete_task(task.user, task)
        self.message_user(request, f"Deleted {len(tasks)} task(s).", messages.SUCCESS)
