"""Mounted at `api/tasks` (no trailing slash): paths below start with `/`; each also accepts a
trailing slash."""

from django.urls import re_path

from tasks.bulk_api import BulkUpdateView
from tasks.recurrence.views import PreviewView, SkipView
from tasks.reminders.urls import urlpatterns as reminder_urlpatterns
from tasks.views import TaskViewSet

_ID = r"(?P<pk>[^/]+)"

task_list = TaskViewSet.as_view({"get": "list", "post": "create"})
task_detail = TaskViewSet.as_view({"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"})

urlpatterns = [
    re_path(r"^/?$", task_list, name="tasks-list"),
    re_path(r"^/recurrence/preview/?$", PreviewView.as_view(), name="tasks-recurrence-preview"),
    re_path(rf"^/{_ID}/skip/?$", SkipView.as_view(), name="tasks-skip"),
    re_path(r"^/bulk-update/?$", BulkUpdateView.as_view(), name="tasks-bulk-update"),
    re_path(rf"^/{_ID}/complete/?$", TaskViewSet.as_view({"post": "complete"}), name="tasks-complete"),
    re_path(rf"^/{_ID}/reopen/?$", TaskViewSet.as_view({"post": "reopen"}), name="tasks-reopen"),
    *reminder_urlpatterns,
    re_path(rf"^/{_ID}/?$", task_detail, name="tasks-detail"),
]
