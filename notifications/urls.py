"""Mounted at `api/notifications` (no trailing slash): paths below start with `/`.
Each also accepts a trailing slash."""

from django.urls import re_path

from . import views

_ID = r"(?P<notification_id>[^/]+)"

urlpatterns = [
    re_path(r"^/?$", views.NotificationListView.as_view(), name="notifications-list"),
    re_path(r"^/unread/count/?$", views.UnreadCountView.as_view(), name="notifications-unread-count"),
    re_path(r"^/read-all/?$", views.MarkAllReadView.as_view(), name="notifications-read-all"),
    re_path(r"^/mark-all-read/?$", views.MarkAllReadView.as_view(), name="notifications-mark-all-read"),
    re_path(r"^/settings/?$", views.NotificationSettingsView.as_view(), name="notifications-settings"),
    re_path(rf"^/{_ID}/read/?$", views.MarkReadView.as_view(), name="notifications-read"),
    re_path(rf"^/{_ID}/?$", views.NotificationDetailView.as_view(), name="notifications-detail"),
]
