"""Included at `api/analytics` (no trailing slash there), so every route starts with `/`."""

from django.urls import re_path

from analytics import views

urlpatterns = [
    re_path(r"^/?$", views.DailyView.as_view(), name="analytics-daily"),
    re_path(r"^/stats/?$", views.StatsView.as_view(), name="analytics-stats"),
    re_path(r"^/insights/?$", views.InsightsView.as_view(), name="analytics-insights"),
    re_path(r"^/performance/?$", views.PerformanceView.as_view(), name="analytics-performance"),
]
