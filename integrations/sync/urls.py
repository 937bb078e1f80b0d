"""Mounted at `api/sync` (no trailing slash). Only on PostgreSQL: the change log is written by
its triggers, so the embedded SQLite setup has no sync to offer (the route and its schema are
absent there, rather than an endpoint that always fails)."""

from django.conf import settings
from django.urls import re_path

from integrations.sync import views

urlpatterns = (
    [re_path(r"^/?$", views.SyncView.as_view(), name="sync")]
    if "postgresql" in settings.DATABASES["default"]["ENGINE"]
    else []
)
