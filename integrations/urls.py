"""Mounted at `api/integrations` (no trailing slash): paths start with `/`; each also accepts a
trailing slash. Fixed words (providers, connect, sync/all, webhooks) come before `{service}`."""

from django.urls import re_path

from integrations import views

_SERVICE = r"(?P<service>[a-z_]+)"

urlpatterns = [
    re_path(r"^/?$", views.IntegrationListView.as_view(), name="integrations-list"),
    re_path(r"^/providers/?$", views.ProviderListView.as_view(), name="integrations-providers"),
    re_path(r"^/connect/?$", views.TokenConnectView.as_view(), name="integrations-token-connect"),
    re_path(r"^/sync/all/?$", views.SyncAllView.as_view(), name="integrations-sync-all"),
    re_path(rf"^/webhooks/{_SERVICE}/?$", views.WebhookView.as_view(), name="integrations-webhook"),
    re_path(rf"^/{_SERVICE}/connect/?$", views.AuthorizeView.as_view(), name="integrations-connect"),
    re_path(rf"^/{_SERVICE}/callback/?$", views.CallbackView.as_view(), name="integrations-callback"),
    re_path(rf"^/{_SERVICE}/sync/?$", views.SyncView.as_view(), name="integrations-sync"),
    re_path(rf"^/{_SERVICE}/disconnect/?$", views.DisconnectView.as_view(), name="integrations-disconnect"),
    re_path(rf"^/{_SERVICE}/runs/?$", views.SyncRunListView.as_view(), name="integrations-runs"),
    re_path(rf"^/{_SERVICE}/?$", views.ConnectionDetailView.as_view(), name="integrations-detail"),
]
