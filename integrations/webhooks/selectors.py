"""Scoped reads of outgoing webhooks: another user's endpoint or delivery is a 404."""

from __future__ import annotations

from django.http import Http404

from integrations.webhooks.models import EndpointDelivery, WebhookEndpoint
from kernel.ids import is_valid_id


def endpoints_of(user):
    return WebhookEndpoint.objects.filter(user=user).order_by("-created_at", "-id")


def endpoint_of(user, endpoint_id: str) -> WebhookEndpoint:
    endpoint = endpoints_of(user).filter(pk=endpoint_id).first() if is_valid_id(endpoint_id) else None
    if endpoint is None:
        raise Http404("Webhook endpoint not found.")
    return endpoint


def deliveries_of(endpoint: WebhookEndpoint, status: str | None = None):
    qs = (
        EndpointDelivery.objects.filter(endpoint=endpoint)
        .select_related("event")
        .defer("event__body")
        .order_by("-created_at", "-id")
    )
    return qs.filter(status=status) if status else qs


def delivery_of(user, delivery_id: str) -> EndpointDelivery:
    delivery = (
        EndpointDelivery.objects.select_related("event", "endpoint").defer("event__body")
        .filter(pk=delivery_id, endpoint__user=user).first()
        if is_valid_id(delivery_id) else None
    )
    if delivery is None:
        raise Http404("Webhook delivery not found.")
    return delivery
