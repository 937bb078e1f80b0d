"""Webhook intake and subscriptions: the signing key of each provider, routing a verified
delivery to the connections it concerns, recording it once and enqueueing their targeted
syncs; subscribing and renewing per-connection push channels (Trello boards, Drive changes)."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from integrations import crypto
from integrations.models import Connection, ConnectionStatus, ProviderSecret, SyncRun, WebhookDelivery
from integrations.providers import get_provider
from integrations.providers.base import ProviderError, Source, WebhookEvent
from integrations.services import job_names
from integrations.services.tokens import client_for
from kernel import jobs
from kernel.redis import get_redis, key

logger = logging.getLogger("integrations")

RENEW_AHEAD = 24 * 3600


LOCAL_PUBLIC_URL = "http://localhost:8000"


def public_base_url(request=None) -> str:
    """This API's public base URL: the configured one, else the one the request came in by (its
    host is checked against ALLOWED_HOSTS), else the local default."""
    if settings.INTEGRATIONS_PUBLIC_URL:
        return settings.INTEGRATIONS_PUBLIC_URL.rstrip("/")
    if request is not None:
        return request.build_absolute_uri("/").rstrip("/")
    return LOCAL_PUBLIC_URL


def webhook_url(service: str, request=None) -> str:
    return f"{public_base_url(request)}/api/integrations/webhooks/{service}"


def webhook_secret(service: str) -> str:
    provider = get_provider(service)
    configured = provider.webhook_secret()
    if configured:
        return configured
    stored = ProviderSecret.objects.filter(service=service).first()
    return stored.value if stored else ""


def _arm_key(service: str) -> str:
    return key("integrations", "webhook-verification-armed", service)


def arm_verification(service: str, *, minutes: float | None = None) -> int:
    """Open a one-time window (staff, from the admin) in which the provider's verification
    handshake may set the webhook signing key. Returns the window in seconds. Without it an
    unauthenticated POST could plant a key of its own and then sign forged deliveries."""
    seconds = max(1, int((minutes if minutes is not None else settings.INTEGRATIONS_WEBHOOK_ARM_MINUTES) * 60))
    get_redis().set(_arm_key(service), "1", ex=seconds)
    logger.warning("%s webhook verification armed for %d s", service, seconds)
    return seconds


def verification_armed_for(service: str) -> int:
    """Seconds left in the verification window (0: closed)."""
    return max(0, get_redis().ttl(_arm_key(service)))


def store_handshake_secret(service: str, token: str) -> bool:
    """Notion's handshake carries the verification token that then signs every event. It is
    kept (encrypted) only when no token is configured and staff armed the window; the first
    handshake in the window closes it, so a second one (an attacker racing the real one
    after it) changes nothing."""
    if get_provider(service).webhook_secret() or not token:
        return False
    if not get_redis().delete(_arm_key(service)):
        logger.warning("ignored a %s verification handshake: verification is not armed", service)
        return False
    ProviderSecret.objects.update_or_create(service=service, defaults={"value_enc": crypto.encrypt(token)})
    logger.warning("stored the %s webhook verification token (paste it in the provider console to activate)", service)
    return True


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


def _first_sighting_of_body(service: str, body: bytes) -> bool:
    """True the first time this exact signed body arrives within the replay window. The
    signature covers the body, not the delivery id, so a captured delivery replayed under a
    new id is caught here."""
    digest = hashlib.sha256(body).hexdigest()
    return bool(
        get_redis().set(
            key("integrations", "webhook-body", service, digest),
            "1",
            nx=True,
            ex=settings.INTEGRATIONS_WEBHOOK_REPLAY_WINDOW,
        )
    )


def _forget_body(service: str, body: bytes) -> None:
    get_redis().delete(key("integrations", "webhook-body", service, hashlib.sha256(body).hexdigest()))


def _sync_allowed(connection_id: str) -> bool:
    """At most INTEGRATIONS_WEBHOOK_SYNC_LIMIT webhook-started syncs per connection per window
    (a fixed window in Redis): a flood of valid deliveries cannot keep a worker busy on one
    connection."""
    k = key("integrations", "webhook-syncs", connection_id)
    pipe = get_redis().pipeline()
    pipe.set(k, 0, nx=True, ex=settings.INTEGRATIONS_WEBHOOK_SYNC_WINDOW)  # the window starts at the first one
    pipe.incr(k)  # INCR keeps the TTL
    count = pipe.execute()[1]
    return count <= settings.INTEGRATIONS_WEBHOOK_SYNC_LIMIT


def _defer(connection_id: str) -> None:
    """Over the limit: the change is not lost, the next scheduled sync (due at the end of the
    window at the latest) picks it up."""
    catch_up = timezone.now() + timedelta(seconds=settings.INTEGRATIONS_WEBHOOK_SYNC_WINDOW)
    Connection.objects.filter(pk=connection_id).filter(
        Q(next_sync_at__gt=catch_up) | Q(next_sync_at__isnull=True)
    ).update(next_sync_at=catch_up)


@dataclass(frozen=True)
class Accepted:
    new: bool  # False: a delivery (or a signed body) seen before, nothing done
    connections: tuple[str, ...] = ()  # the connections it concerns
    deferred: tuple[str, ...] = ()  # those over their webhook sync limit (left to the schedule)


def accept_webhook(service: str, event: WebhookEvent, body: bytes = b"") -> Accepted:
    """Record the delivery once (by delivery id, and by signed body where the signature covers
    it) and enqueue a targeted sync of each connection it concerns, within each one's rate."""
    if not event.delivery_id:
        return Accepted(new=False)
    by_body = bool(body) and get_provider(service).webhook_signs_body
    if by_body and not _first_sighting_of_body(service, body):
        logger.info("ignored a replayed %s webhook body (delivery %s)", service, event.delivery_id[:64])
        return Accepted(new=False)
    try:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    delivery = WebhookDelivery.objects.create(
                        service=service, delivery_id=event.delivery_id[:255], refs=event.refs[:50]
                    )
            except IntegrityError:
                return Accepted(new=False)
            targets = route_webhook(service, event)
            allowed = [pk for pk in targets if _sync_allowed(pk)]
            deferred = [pk for pk in targets if pk not in allowed]
            for pk in deferred:
                _defer(pk)
            delivery.connections = targets
            delivery.processed_at = timezone.now()
            delivery.save(update_fields=["connections", "processed_at", "updated_at"])
            refs = event.refs or None
            # Queued with the delivery record (the outbox): an accepted webhook is never lost.
            for pk in allowed:
                jobs.enqueue_on_commit(job_names.SYNC_CONNECTION, pk, trigger=SyncRun.Trigger.WEBHOOK, refs=refs)
    except Exception:
        if by_body:  # nothing was recorded: the provider's retry of this body must still count
            _forget_body(service, body)
        raise
    if deferred:
        logger.info("%s webhook: %d connection(s) over their sync limit, left to the schedule", service, len(deferred))
    return Accepted(new=True, connections=tuple(targets), deferred=tuple(deferred))


def _subscribe(conn: Connection, provider, client, sources: list[Source]) -> list[dict]:
    return provider.register_webhooks(
        client,
        connection_id=conn.pk,
        sources=sources,
        callback_url=webhook_url(conn.service),
        secret=provider.webhook_secret(),
    )


def _store_hooks(conn: Connection, hooks: list[dict]) -> None:
    Connection.objects.filter(pk=conn.pk).update(webhooks=hooks)
    conn.webhooks = hooks


def register_webhooks(conn: Connection) -> list[dict]:
    provider = get_provider(conn.service)
    client = client_for(conn)
    sources = [Source(**s) for s in conn.sources] or provider.list_sources(client, conn.sync_filters)
    hooks = _subscribe(conn, provider, client, sources)
    if hooks:
        _store_hooks(conn, conn.webhooks + hooks)
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
    new = _subscribe(conn, provider, client, [Source(**s) for s in conn.sources])
    _store_hooks(conn, keep + new)
    return len(new)
