"""Mounted at `api/webhooks` (no trailing slash): paths start with `/`; each also accepts a
trailing slash."""

from django.urls import re_path

from integrations.webhooks import views

_ID = r"(?P<endpoint_id>[^/]+)"

urlpatterns = [
    re_path(r"^/endpoints/?$", views.EndpointListView.as_view(), name="webhooks-endpoints"),
    re_path(rf"^/endpoints/{_ID}/?$", views.EndpointDetailView.as_view(), name="webhooks-endpoint"),
    re_path(rf"^/endpoints/{_ID}/rotate-secret/?$", views.RotateSecretView.as_view(), name="webhooks-rotate"),
    re_path(rf"^/endpoints/{_ID}/test/?$", views.TestView.as_view(), name="webhooks-test"),
    re_path(rf"^/endpoints/{_ID}/deliveries/?$", views.DeliveryListView.as_view(), name="webhooks-deliveries"),
    re_path(r"^/deliveries/(?P<delivery_id>[^/]+)/resend/?$", views.ResendView.as_view(), name="webhooks-resend"),
    re_path(r"^/event-types/?$", views.EventTypeListView.as_view(), name="webhooks-event-types"),
]
