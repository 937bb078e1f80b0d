"""Included by tasks/urls.py under `api/tasks`: paths start with `/`; each also accepts a trailing slash."""

from django.urls import re_path

from .views import ReminderDetailView, ReminderListView

_ID = r"(?P<pk>[^/]+)"

urlpatterns = [
    re_path(rf"^/{_ID}/reminders/?$", ReminderListView.as_view(), name="tasks-reminders"),
    re_path(rf"^/{_ID}/reminders/(?P<reminder_id>[^/]+)/?$", ReminderDetailView.as_view(), name="tasks-reminder"),
]
