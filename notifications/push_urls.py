"""Mounted at `api/push` (no trailing slash): web push keys and subscriptions. Each path also
accepts a trailing slash."""

from django.urls import re_path

from . import views

urlpatterns = [
    re_path(r"^/vapid-public-key/?$", views.VapidPublicKeyView.as_view(), name="push-vapid-public-key"),
    re_path(r"^/subscriptions/?$", views.PushSubscriptionsView.as_view(), name="push-subscriptions"),
]
