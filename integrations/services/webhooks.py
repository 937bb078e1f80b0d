"""Webhook intake and subscriptions: the signing key of each provider, routing a verified
delivery to the connections it concerns, recording it once and enqueueing their targeted
syncs; subscribing and renewing per-connection push channels (Trello boards, Drive changes)."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from integrations import crypto
from integrations.models import Connection, ConnectionStatus, ProviderSecret, SyncRun, WebhookDelivery
from integrations.providers import get_provider
from integrations.providers.base import ProviderError, Source, WebhookEvent
from integrations.services.tokens import client_for

logger = logging.getLogger("integrations")

RENEW_AHEAD = 24 * 3600


def webhook_url(service: str) -> str:
    return f"{settings.INTEGRATIONS_PUBLIC_URL.rstrip('/')}/api/integrations/webhooks/{service}"


def webhook_secret(service: str) -> str:
    provider = get_provider(service)
    configured = provider.webhook_secret()
    if configured:
        return configured
    stored = ProviderSecret.objects.filter(service=service).first()
    return stored.value if stored else ""


def store_handshake_secret(service: str, token: str) -> bool:
    """Notion's first delivery carries the verification token that then signs every event.
    The first one is kept (encrypted); later ones are ignored (an attacker cannot swap it)."""
    if get_provider(service).webhook_secret() or not token:
        return False
    _, created = ProviderSecret.objects.get_or_create(service=service, defaults={"value_enc": crypto.encrypt(token)})
    if created:
        logger.warning(
            "stored the %s webhook verification token (paste it in the provider console to activate)", service
        )
    return created


def route_webhook(service: str, event: WebhookEvent) -> list[str]:
    active = [ConnectionStatus.CONNECTED, ConnectionStatus.ERROR, ConnectionStatus.SYNCING]
    qs = Connection.objects.filter(service=service, status__in=active)
    routing = event.routing
    if routing.get("account_ids") or routing.get("workspace_id"):
        cond = Q(external_account_id__in=routing.get("account_ids") or [])
        if routing.get("workspace_id") and not routing.get("account_ids"):
            cond |= Q(workspace_id=routing["workspace_id"])
        return list(qs.filter(cond).values_list("pk", flat=True))
    if routing.get("board_ids"):
        boards = set(routing["board_ids"])
        return [pk for pk, sources in qs.values_list("pk", "sources") if boards & {s.get("id") for s in sources or []}]
    if routing.get("channel_id"):
        parts = routing["channel_id"].split("-")
        conn = qs.filter(pk=parts[1] if len(parts) == 3 else "").first()
        if conn and any(h.get("channel_id") == routing["channel_id"] for h in conn.webhooks):
            return [conn.pk]
    return []


def accept_webhook(service: str, event: WebhookEvent) -> tuple[bool, list[str]]:
    """Record the delivery once and enqueue a targeted sync of each connection it concerns.
    Returns (new, connection ids); a replayed delivery id is (False, [])."""
    if not event.delivery_id:
        return False, []
    with transaction.atomic():
        try:
            with transaction.atomic():
                delivery = WebhookDelivery.objects.create(
                    service=service, delivery_id=event.delivery_id[:255], refs=event.refs[:50]
                )
        except IntegrityError:
            return False, []
        targets = route_webhook(service, event)
        delivery.connections = targets
        delivery.processed_at = timezone.now()
        delivery.save(update_fields=["connections", "processed_at", "updated_at"])
        refs = event.refs or None

        def enqueue():
            from integrations.tasks import sync_connection_task

            for pk in targets:
                try:
                    sync_connection_task.delay(pk, trigger=SyncRun.Trigger.WEBHOOK, refs=refs)
                except Exception:  # noqa: BLE001
                    logger.warning("could not enqueue the webhook sync of %s", pk, exc_info=True)

        transaction.on_commit(enqueue)
    return True, targets


def register_webhooks(conn: Connection) -> list[dict]:
    provider = get_provider(conn.service)
    client = client_for(conn)
    sources = [Source(**s) for s in conn.sources] or provider.list_sources(client, conn.sync_filters)
    hooks = provider.register_webhooks(
        client,
        connection_id=conn.pk,
        sources=sources,
        callback_url=webhook_url(conn.service),
        secret=provider.webhook_secret(),
    )
    if hooks:
        Connection.objects.filter(pk=conn.pk).update(webhooks=conn.webhooks + hooks)
        conn.webhooks = conn.webhooks + hooks
    return hooks


def renew_webhooks(conn: Connection) -> int:
    """Replace push channels that expire within a day (Google Drive channels live about a week;
    Trello webhooks do not expire). Returns how many were renewed."""
    horizon = (time.time() + RENEW_AHEAD) * 1000
    expiring = [h for h in conn.webhooks if h.get("expiration") and float(h["expiration"]) < horizon]
    if not expiring:
        return 0
    provider = get_provider(conn.service)
    client = client_for(conn)
    try:
        provider.unregister_webhooks(client, expiring)
    except ProviderError as exc:
        logger.info("could not stop expiring %s channels of %s: %s", conn.service, conn.pk, exc)
    keep = [h for h in conn.webhooks if h not in expiring]
    sources = [Source(**s) for s in conn.sources]
    new = provider.register_webhooks(
        client,
        connection_id=conn.pk,
        sources=sources,
        callback_url=webhook_url(conn.service),
        secret=provider.webhook_secret(),
    )
    Connection.objects.filter(pk=conn.pk).update(webhooks=keep + new)
    conn.webhooks = keep + new
    return len(new)
