"""The periodic-job admin (django-celery-beat), narrowed so a schedule cannot become a way to run
arbitrary code.

A periodic task names a Celery task and its arguments; whoever may write those may run any
task with any argument (for example deleting another user's data). So:

- staff (no `accounts.manage_roles`) change only *when* the app's own jobs run: interval,
  crontab, start time, enabled, description. Name, task, arguments and execution options are
  read-only for them, and they cannot add or delete periodic tasks (`kernel.roles`);
- admins may add and edit tasks, but the task is always one of the jobs the app schedules
  itself (`CELERY_BEAT_SCHEDULE`), never any other registered Celery task.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin
from django_celery_beat.admin import PeriodicTaskAdmin, PeriodicTaskForm
from django_celery_beat.models import PeriodicTask

STAFF_EDITABLE = ("enabled", "description", "interval", "crontab", "start_time")


def periodic_job_tasks() -> list[str]:
    """The Celery task names the app itself schedules."""
    return sorted({entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()})


class StaffScheduleForm(forms.ModelForm):
    """Only the timing of an existing job: no task name or argument field exists to post."""

    class Meta:
        model = PeriodicTask
        fields = STAFF_EDITABLE


class PeriodicJobForm(PeriodicTaskForm):
    """The stock form with the task limited to the app's periodic jobs."""

    regtask = forms.ChoiceField(label="Task (registered)", required=False, choices=())
    task = forms.CharField(label="Task", required=False, max_length=200, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["regtask"].choices = [("", "---------"), *((name, name) for name in periodic_job_tasks())]
        if self.instance and self.instance.pk:
            self.fields["regtask"].initial = self.instance.task

    def clean(self):
        data = super().clean()
        if data.get("task") and data["task"] not in periodic_job_tasks():
            self.add_error("regtask", "Choose one of the app's periodic jobs.")
        return data


if admin.site.is_registered(PeriodicTask):
    admin.site.unregister(PeriodicTask)


@admin.register(PeriodicTask)
class PeriodicJobAdmin(PeriodicTaskAdmin):
    form = PeriodicJobForm

    @staticmethod
    def _may_define_tasks(request) -> bool:
        return request.user.has_perm("accounts.manage_roles")

    def get_form(self, request, obj=None, **kwargs):
        if not self._may_define_tasks(request):
            kwargs["form"] = StaffScheduleForm
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if self._may_define_tasks(request):
            return super().get_fieldsets(request, obj)
        return (
            (None, {"fields": ("name", "task", "enabled", "description")}),
            ("Schedule", {"fields": ("interval", "crontab", "start_time", "last_run_at")}),
            ("Arguments", {"fields": ("args", "kwargs")}),
        )

    def get_readonly_fields(self, request, obj=None):
        if self._may_define_tasks(request):
            return super().get_readonly_fields(request, obj)
        return ("name", "task", "args", "kwargs", "last_run_at")

    def has_add_permission(self, request):
        return self._may_define_tasks(request) and super().has_add_permission(request)

    def has_delete_permission(self, request, obj=None):
        return self._may_define_tasks(request) and super().has_delete_permission(request, obj)
