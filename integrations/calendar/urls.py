"""Mounted at `api/calendar` (paths start with `/`; each also accepts a trailing slash). The feed
itself, `/cal/{token}.ics`, is mounted by deepiri/urls.py outside /api/: it is not the JSON API."""

from django.urls import re_path

from integrations.calendar import views

_FEED = r"(?P<feed_id>[^/]+)"

urlpatterns = [
    re_path(r"^/feeds/?$", views.FeedListView.as_view(), name="calendar-feeds"),
    re_path(rf"^/feeds/{_FEED}/rotate/?$", views.FeedRotateView.as_view(), name="calendar-feed-rotate"),
    re_path(rf"^/feeds/{_FEED}/?$", views.FeedDetailView.as_view(), name="calendar-feed-detail"),
]
