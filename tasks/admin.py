"""Staff screens for tasks.

Tasks belong to their users: the screen is for looking (filters by status, type, priority,
source; search by title and user) and for service actions: delete a task created by mistake
through an import, through `tasks.services.delete_task` (its challenges go with it), and the
actions apps above register with `register_action` (challenges: generate a challenge).
Completion data and the AI's classification are read-only.
"""

from __future__ import annotations

from django.contrib import admin, messages

from kernel import roles, wiring
from tasks import services
from tasks.models import Task
from tasks.recurrence.admin import BrokenRuleFilter, series_summary


def register_action(action) -> None:
    """Offer an admin action (a function decorated with `admin.action`) on the task list."""
    if action not in TaskAdmin.actions:
        TaskAdmin.actions = [action, *TaskAdmin.actions]
    wiring.record("task admin actions", action.__name__, action)


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ("title", "user", "type", "status", "priority", "due_date", "source", "completed_at", "created_at")
    list_filter = ("status", "type", "priority", "source", "due_date", "completed_at", BrokenRuleFilter)
    search_fields = ("title", "user__email", "user__name", "=source_id")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ["delete_tasks"]
    readonly_fields = [*(f.name for f in Task._meta.fields), "series"]
    fieldsets = (
        (None, {"fields": ("id", "user", "title", "description", "type", "status", "priority", "tags")}),
        ("Due", {"fields": ("due_date", "due_date_only", "estimated_duration")}),
        ("Recurrence", {"fields": ("series",)}),
        ("Source", {"fields": ("source", "source_id", "source_url")}),
        ("Understanding (AI)", {"fields": ("classification", "user_set_fields")}),
        ("Completion", {"fields": ("completed_at", "actual_duration", "efficiency", "completion_notes")}),
        ("Dates", {"fields": ("created_at", "updated_at")}),
    )

    @admin.display(description="series")
    def series(self, obj):
        return series_summary(obj)

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

    @admin.action(description="Delete selected tasks (and their challenges)", permissions=["service_delete"])
    def delete_tasks(self, request, queryset):
        tasks = []
        for task in queryset.select_related("user"):
            if roles.may_act_on(request.user, task.user):
                tasks.append(task)
            else:
                self.message_user(request, roles.refused_message(task.user), messages.ERROR)
        for task in tasks:
            services.delete_task(task.user, task)
        self.message_user(request, f"Deleted {len(tasks)} task(s).", messages.SUCCESS)


def users_completing_tasks(today):
    """Who completed a task today counts as active on the dashboard."""
    return Task.objects.filter(completed_at__gte=today).values("user_id")


def tasks_today(today, day_ago) -> dict:
    return {"tasks_completed_today": Task.objects.filter(completed_at__gte=today).count()}
