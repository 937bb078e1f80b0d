"""Mounted at `api/sync` (no trailing slash)."""

from django.urls import re_path

from integrations.sync import views

urlpatterns = [
    re_path(r"^/?$", views.SyncView.as_view(), name="sync"),
]
