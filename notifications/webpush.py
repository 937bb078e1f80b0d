"""Web push (RFC 8030) with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291).

    check_endpoint(url) / check_keys(p256dh, auth)     what a subscription may name (ValueError)
    payload_of(type, title, message, data, id) -> dict  what the service worker receives
    send(subscription, payload) -> str                  "sent" | "expired"; raises PushRetry
    push_to_subscription (job `notifications.push`)     one subscription, retried with backoff

On only when the operator set both VAPID keys (`settings.WEBPUSH_ENABLED`). pywebpush encrypts
and py-vapid signs; the POST goes through `kernel.http` like every outbound call (timeouts,
the host's breaker, retries of 429/5xx honouring Retry-After). 404/410 mean the browser
dropped the subscription: it is marked expired and never called again. A 429/5xx that outlasts
those quick retries raises `PushRetry`, and Celery retries the job with a growing backoff
(capped below the broker's visibility timeout).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import time
from urllib.parse import urlsplit

from celery import shared_task
from django.conf import settings
from django.db.models import F
from django.utils import timezone
from py_vapid import Vapid02
from pywebpush import WebPusher

from kernel import http
from kernel.api.casing import camelize

from . import job_names
from .models import PushSubscription

logger = logging.getLogger(__name__)

MAX_TEXT = 1000  # a push payload is at most 4 KiB once encrypted
EXPIRED_STATUSES = frozenset({404, 410})
RETRY_STATUSES = frozenset({429, *http.SERVER_ERRORS})
JWT_LIFETIME = 12 * 3600


class PushRetry(Exception):
    """The push service answered 429 or 5xx (after the quick retries): try again later."""


# ------------------------------------------------------------------------------ validation
def _b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def check_endpoint(url: str) -> str:
    """The endpoint must be https on a push service's host (settings.WEBPUSH_ENDPOINT_HOSTS):
    it is a URL a client hands us, and we POST to it from inside the network."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise ValueError("Must be a push service URL.") from exc
    if parts.username or parts.password or not host:
        raise ValueError("Must be a push service URL.")
    if parts.scheme == "http" and host in settings.WEBPUSH_INSECURE_ENDPOINT_HOSTS:
        return url
    if parts.scheme != "https":
        raise ValueError("Must be an https URL.")
    if not any(host == allowed or host.endswith("." + allowed) for allowed in settings.WEBPUSH_ENDPOINT_HOSTS):
        raise ValueError("Not a known push service.")
    return url


def check_keys(p256dh: str, auth: str) -> None:
    try:
        point, secret = _b64url_decode(p256dh), _b64url_decode(auth)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("Keys must be base64url.") from exc
    if len(point) != 65 or point[0] != 4:
        raise ValueError("p256dh must be an uncompressed P-256 point (65 bytes).")
    if len(secret) != 16:
        raise ValueError("auth must be 16 bytes.")


def health() -> str:
    """The health check (admin health and `/api/health` for staff): whether web push is on."""
    if not settings.WEBPUSH_ENABLED:
        return "off"
    _vapid(settings.VAPID_PRIVATE_KEY)  # a malformed key shows as down, with the error
    return "on"


# ------------------------------------------------------------------------------ sending
@functools.lru_cache(maxsize=2)
def _vapid(private_key: str) -> Vapid02:
    if "BEGIN" in private_key:
        return Vapid02.from_pem(private_key.encode())
    return Vapid02.from_string(private_key)


def vapid_headers(endpoint: str) -> dict:
    parts = urlsplit(endpoint)
    claims = {
        "aud": f"{parts.scheme}://{parts.netloc}",
        "exp": int(time.time()) + JWT_LIFETIME,
        "sub": settings.VAPID_SUBJECT,
    }
    return _vapid(settings.VAPID_PRIVATE_KEY).sign(claims)


def payload_of(type_: str, title: str, message: str, data: dict, notification_id: str | None) -> dict:
    return {
        "type": type_,
        "title": title[:200],
        "body": (message or "")[:MAX_TEXT],
        "data": camelize(data),  # the wire's casing, as the socket's copy has it
        "notificationId": notification_id,
        # The service worker shows one notification per tag: a push sent twice replaces itself.
        "tag": notification_id or f"{type_}:{title[:50]}",
    }


def _policy() -> http.Policy:
    timeout = settings.WEBPUSH_HTTP_TIMEOUT
    return http.Policy(
        connect_timeout=min(timeout, 3.0),
        read_timeout=timeout,
        total_timeout=timeout * 3,
        max_retries=2,
        backoff=0.5,
        max_backoff=4.0,
        max_retry_after=10.0,
        retry_statuses=RETRY_STATUSES,
        breaker_threshold=20,
        breaker_window=60.0,
        breaker_cooldown=30.0,
        max_response_bytes=64_000,
        failures=(PushRetry,),
    )


def _judge(response) -> str:
    if response.status_code in EXPIRED_STATUSES:
        return "expired"
    if response.status_code in RETRY_STATUSES:
        raise PushRetry(f"push service answered {response.status_code}")
    if response.status_code >= 400:
        # 400/401/403/413: our request is wrong for this subscription; retrying will not help.
        return f"rejected:{response.status_code}"
    return "sent"


def send(subscription: PushSubscription, payload: dict) -> str:
    """Encrypt `payload` for the subscription and POST it. Returns "sent", "expired" (the
    subscription is marked so) or "rejected:<status>"; raises PushRetry or http.Unavailable."""
    check_endpoint(subscription.endpoint)  # the allow-list may have changed since it was stored
    body = WebPusher(subscription.as_subscription_info()).encode(
        json.dumps(payload, separators=(",", ":")).encode(), "aes128gcm"
    )["body"]
    headers = {
        **vapid_headers(subscription.endpoint),
        "Content-Encoding": "aes128gcm",
        "Content-Type": "application/octet-stream",
        "TTL": str(settings.WEBPUSH_TTL_SECONDS),
        "Urgency": "high" if payload.get("type") == "task_reminder" else "normal",
    }
    topic = (payload.get("notificationId") or "")[:32]
    if topic:
        headers["Topic"] = topic  # a push still queued at the service is replaced, not doubled
    try:
        result = http.request("POST", subscription.endpoint, policy=_policy(), handle=_judge, data=body, headers=headers)
    except (PushRetry, http.Unavailable):
        PushSubscription.objects.filter(pk=subscription.pk).update(failures=F("failures") + 1)
        raise
    now = timezone.now()
    if result == "expired":
        PushSubscription.objects.filter(pk=subscription.pk, expired_at__isnull=True).update(expired_at=now)
    elif result == "sent":
        PushSubscription.objects.filter(pk=subscription.pk).update(last_success_at=now, failures=0)
    else:
        logger.warning("push service refused a push: %s", result)
    return result


@shared_task(
    name=job_names.PUSH,
    autoretry_for=(PushRetry, http.Unavailable),
    retry_backoff=5,
    retry_backoff_max=300,  # below the broker's visibility timeout
    retry_jitter=True,
    max_retries=6,
)
def push_to_subscription(subscription_id: str, payload: dict) -> str:
    if not settings.WEBPUSH_ENABLED:
        return "disabled"
    subscription = PushSubscription.objects.filter(pk=subscription_id, expired_at__isnull=True).first()
    if subscription is None:
        return "gone"
    return send(subscription, payload)
