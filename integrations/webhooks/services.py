"""Outgoing webhooks: endpoints a user manages, events recorded in the emitter's transaction, and
their delivery.

    create_endpoint(user, url=, description=, event_types=) -> (endpoint, secret)
    update_endpoint(endpoint, fields) / delete_endpoint(endpoint)
    rotate_secret(endpoint) -> secret        the old one signs beside it for 24 h
    send_test(endpoint) -> delivery / resend(delivery) -> delivery
    record(user, type, build_data)           IN the emitter's transaction (integrations.handlers)
    deliver_endpoint(endpoint_id) -> int     the job: sends what is due to one endpoint
    scan_due() -> int                        the beat job: queues the endpoints with due deliveries

Delivery is at least once with one `webhook-id` per (event, endpoint): the delivery row's id.
`record` writes the event, one delivery per enabled endpoint that wants the type and an outbox
job per endpoint, all in the transaction that made the change, so a rollback sends nothing and a
commit loses nothing. The job sends right after commit; the scan (every few seconds) is the
safety net for a lost job and the clock for retries. An endpoint is held by one worker at a time
(`busy_until`, a lease), and its due deliveries by that holder in batches (`claimed_until`, taken
with SKIP LOCKED); both run out if the worker dies, and the next holder sends the same message
again.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import secrets
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

import urllib3
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from rest_framework.exceptions import ValidationError
from standardwebhooks.webhooks import Webhook

from integrations import crypto
from integrations.webhooks import catalogue, job_names, ssrf
from integrations.webhooks.models import DeliveryStatus, EndpointDelivery, EndpointStatus, WebhookEndpoint, WebhookEvent
from kernel import jobs
from kernel.api.exceptions import Conflict, ServiceUnavailable
from kernel.api.times import iso_utc
from kernel.http import parse_retry_after
from notifications import services as notifications

logger = logging.getLogger("integrations.webhooks")

# Seconds before attempt 1, 2, ... (the first is immediate); after the last one fails the
# delivery has failed. Spans 27.6 h, each wait with +-10 % jitter.
RETRY_SCHEDULE = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
FAILING_DISABLES_AFTER = timedelta(days=5)
ROTATION_OVERLAP = timedelta(hours=24)
RESPONSE_KEEP_BYTES = 2048
USER_AGENT = "Deepiri-Webhooks/1"
CONNECT_TIMEOUT = 3.0
TOTAL_TIMEOUT = 15.0
# Deliveries of one endpoint claimed together by its holder (each claim covers the whole batch:
# the endpoint's lease keeps every other worker off them meanwhile, and what is left unsent is
# freed when the run ends).
CLAIM_BATCH = 20


def _claim() -> timedelta:
    """How long a worker holds an endpoint / a delivery (WEBHOOK_CLAIM_SECONDS): beyond one whole
    attempt, so a live holder never loses it, and short, so a killed worker's messages are sent
    again soon."""
    return timedelta(seconds=settings.WEBHOOK_CLAIM_SECONDS)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


# ------------------------------------------------------------------------------ endpoints
def _check_url(url: str) -> str:
    try:
        ssrf.check_url(url)
    except ssrf.Refused as exc:
        raise ValidationError({"url": [str(exc)]}) from None
    return url


def _check_types(event_types: list[str]) -> list[str]:
    unknown = sorted(set(event_types) - set(catalogue.EVENT_TYPES))
    if unknown:
        raise ValidationError({"event_types": [f"Unknown event types: {', '.join(unknown)}."]})
    return sorted(set(event_types))


def _encrypted(secret: str) -> str:
    try:
        return crypto.encrypt(secret)
    except ImproperlyConfigured as exc:
        logger.error("outgoing webhooks: %s", exc)
        raise ServiceUnavailable("Outgoing webhooks are not configured on this server.") from None


def create_endpoint(user, *, url: str, description: str = "", event_types: list[str] | None = None):
    url = _check_url(url)
    types = _check_types(event_types or [])
    secret = new_secret()
    secret_enc = _encrypted(secret)
    with transaction.atomic():
        # The user's row lock serialises two creations racing for the last place.
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        if WebhookEndpoint.objects.filter(user=user).count() >= settings.WEBHOOK_MAX_ENDPOINTS:
            raise Conflict(f"You already have {settings.WEBHOOK_MAX_ENDPOINTS} webhook endpoints; delete one first.")
        endpoint = WebhookEndpoint(
            user=user, url=url, description=description, event_types=types, secret_enc=secret_enc
        )
        endpoint.save(force_insert=True)
    return endpoint, secret


def update_endpoint(endpoint: WebhookEndpoint, fields: dict) -> WebhookEndpoint:
    changed = []
    if "url" in fields:
        endpoint.url = _check_url(fields["url"])
        changed.append("url")
    if "event_types" in fields:
        endpoint.event_types = _check_types(fields["event_types"])
        changed.append("event_types")
    if "description" in fields:
        endpoint.description = fields["description"]
        changed.append("description")
    if "status" in fields and fields["status"] != endpoint.status:
        endpoint.status = fields["status"]
        endpoint.disabled_reason = "" if endpoint.status == EndpointStatus.ENABLED else "Disabled by you."
        endpoint.failing_since = None
        changed += ["status", "disabled_reason", "failing_since"]
    if changed:
        endpoint.save(update_fields=[*changed, "updated_at"])
        if endpoint.status == EndpointStatus.ENABLED and "status" in changed:
            # What waited while it was off goes out now, not at the next scan.
            jobs.enqueue_on_commit(job_names.DELIVER_ENDPOINT, endpoint.pk)
    return endpoint


def delete_endpoint(endpoint: WebhookEndpoint) -> None:
    endpoint.delete()  # its deliveries go with it


def rotate_secret(endpoint: WebhookEndpoint) -> str:
    secret = new_secret()
    secret_enc = _encrypted(secret)
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        locked.previous_secret_enc = locked.secret_enc
        locked.previous_secret_expires_at = timezone.now() + ROTATION_OVERLAP
        locked.secret_enc = secret_enc
        locked.save(update_fields=["previous_secret_enc", "previous_secret_expires_at", "secret_enc", "updated_at"])
    return secret


def signing_secrets(endpoint: WebhookEndpoint, now=None) -> list[str]:
    """The secrets that sign now: the current one, and the previous one during its overlap."""
    now = now or timezone.now()
    out = [endpoint.secret]
    if endpoint.previous_secret_enc and endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > now:
        out.append(crypto.decrypt(endpoint.previous_secret_enc))
    return out


# ------------------------------------------------------------------------------ recording
def envelope(event_type: str, data: dict, at) -> str:
    return json.dumps({"type": event_type, "timestamp": iso_utc(at), "data": data}, separators=(",", ":"))


def _enabled_endpoints(user) -> list[WebhookEndpoint]:
    """The user's enabled endpoints, read once per user object (a request's or a job's) while no
    endpoint changed: a batch of task writes emits one event per task, and most users have no
    endpoint at all, so each event must not cost a query."""
    cached = getattr(user, "_webhook_endpoints", None)
    if cached is not None and cached[0] == WebhookEndpoint.generation:
        return cached[1]
    endpoints = list(
        WebhookEndpoint.objects.filter(user=user, status=EndpointStatus.ENABLED).only("id", "event_types")
    )
    user._webhook_endpoints = (WebhookEndpoint.generation, endpoints)
    return endpoints


def record(user, event_type: str, build_data) -> WebhookEvent | None:
    """Record one state change for the user's endpoints that want it (call it inside the
    transaction of the change; `build_data()` gives the resource's REST shape and is called
    only when some endpoint wants the type). An endpoint whose backlog is full gets its
    overflow counted instead of a delivery."""
    endpoints = [e for e in _enabled_endpoints(user) if e.wants(event_type)]
    if not endpoints:
        return None
    return _record_for(user, event_type, build_data(), endpoints)


def _record_for(user, event_type: str, data: dict, endpoints: list[WebhookEndpoint]) -> WebhookEvent | None:
    now = timezone.now()
    body = envelope(event_type, data, now)
    if len(body.encode()) > settings.WEBHOOK_MAX_BODY_BYTES:
        logger.warning("webhook %s for user %s not recorded: body over %d bytes", event_type, user.pk,
                       settings.WEBHOOK_MAX_BODY_BYTES)
        return None
    ids = [e.pk for e in endpoints]
    backlog = dict(
        EndpointDelivery.objects.filter(endpoint_id__in=ids, status=DeliveryStatus.PENDING)
        .values_list("endpoint_id").annotate(n=Count("id")).values_list("endpoint_id", "n")
    )
    full = [pk for pk in ids if backlog.get(pk, 0) >= settings.WEBHOOK_MAX_BACKLOG]
    if full:
        WebhookEndpoint.objects.filter(pk__in=full).update(overflow_count=F("overflow_count") + 1)
    room = [pk for pk in ids if pk not in full]
    if not room:
        return None
    with transaction.atomic():
        event = WebhookEvent.objects.create(user=user, type=event_type, body=body)
        EndpointDelivery.objects.bulk_create(
            [EndpointDelivery(event=event, endpoint_id=pk, next_attempt_at=now) for pk in room]
        )
        for pk in room:
            jobs.enqueue_on_commit(job_names.DELIVER_ENDPOINT, pk)
    return event


def send_test(endpoint: WebhookEndpoint) -> EndpointDelivery:
    if endpoint.status != EndpointStatus.ENABLED:
        raise Conflict("This endpoint is disabled; enable it first.")
    data = {"endpointId": endpoint.pk, "message": "A test event from Deepiri."}
    with transaction.atomic():
        event = _record_for(endpoint.user, catalogue.TEST_EVENT, data, [endpoint])
        if event is None:
            raise Conflict("This endpoint's backlog is full; wait for it to drain.")
        return EndpointDelivery.objects.select_related("event").get(event=event, endpoint=endpoint)


def resend(delivery: EndpointDelivery) -> EndpointDelivery:
    """Send a delivery again (the same webhook-id), now."""
    if delivery.endpoint.status != EndpointStatus.ENABLED:
        raise Conflict("This endpoint is disabled; enable it first.")
    with transaction.atomic():
        EndpointDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.PENDING, next_attempt_at=timezone.now(), claimed_until=None, updated_at=timezone.now()
        )
        jobs.enqueue_on_commit(job_names.DELIVER_ENDPOINT, delivery.endpoint_id)
    delivery.refresh_from_db()
    return delivery


# ------------------------------------------------------------------------------ delivering
def scan_due(limit: int = 500) -> int:
    """Queue a delivery job for each enabled, idle endpoint with a due delivery (the beat job;
    safe to run twice: an endpoint queued moments ago is not queued again until its mark ends)."""
    now = timezone.now()
    due = (
        EndpointDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .filter(endpoint__status=EndpointStatus.ENABLED)
        .filter(Q(endpoint__busy_until__isnull=True) | Q(endpoint__busy_until__lt=now))
        .filter(Q(endpoint__not_before__isnull=True) | Q(endpoint__not_before__lte=now))
        .values_list("endpoint_id", flat=True)
        .distinct()[:limit]
    )
    queued = 0
    hold = now + timedelta(seconds=settings.WEBHOOK_SCAN_HOLD_SECONDS)
    for pk in list(due):
        # Marked busy briefly, so the next scan does not queue it again while the job waits in
        # the broker; the job takes over exactly this hold (by its value) as soon as it starts.
        if WebhookEndpoint.objects.filter(pk=pk).filter(Q(busy_until__isnull=True) | Q(busy_until__lt=now)).update(
            busy_until=hold
        ):
            jobs.enqueue(job_names.DELIVER_ENDPOINT, pk, hold=hold.isoformat())
            queued += 1
    if queued:
        logger.info("webhooks: %d endpoints with due deliveries queued", queued)
    return queued


def _take_endpoint(endpoint_id: str, hold: str | None) -> datetime | None:
    """Hold the endpoint for one worker (concurrency 1): free, its holder's lease ran out, or
    the scan's `hold` this job was queued with. Returns the lease's end, None when held."""
    now = timezone.now()
    free = Q(busy_until__isnull=True) | Q(busy_until__lt=now)
    if hold:
        free |= Q(busy_until=datetime.fromisoformat(hold))
    until = now + _claim()
    taken = WebhookEndpoint.objects.filter(free, pk=endpoint_id, status=EndpointStatus.ENABLED).update(busy_until=until)
    return until if taken else None


def _claim_batch(endpoint_id: str, limit: int) -> list[EndpointDelivery]:
    """Claim up to `limit` due deliveries of the endpoint, oldest first, with their events: one
    locking read and one UPDATE for the lot, not a round of statements per message."""
    now = timezone.now()
    with transaction.atomic():
        batch = list(
            EndpointDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("event")
            .filter(endpoint_id=endpoint_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .order_by("next_attempt_at", "id")[:limit]
        )
        if batch:
            until = now + _claim()
            EndpointDelivery.objects.filter(pk__in=[d.pk for d in batch]).update(claimed_until=until)
            for delivery in batch:
                delivery.claimed_until = until
    return batch


def deliver_endpoint(endpoint_id: str, *, hold: str | None = None) -> int:
    """Send what is due to one endpoint, oldest first, one at a time, at most
    WEBHOOK_MAX_PER_RUN messages or WEBHOOK_RUN_SECONDS: a slow receiver holds one worker for
    that long, then the scan queues it again behind everyone else. Returns attempts made."""
    sent = 0
    for _ in range(2):
        lease = _take_endpoint(endpoint_id, hold)
        if lease is None:
            return sent  # another worker sends to it now; it picks up what is due, the scan the rest
        hold = None
        sent += _deliver_held(endpoint_id, lease)
        # A delivery committed while we were releasing found the endpoint held and left it to
        # us: look once more rather than leave it to the next scan.
        if not _due(endpoint_id).exists():
            break
    return sent


def _due(endpoint_id: str):
    now = timezone.now()
    return EndpointDelivery.objects.filter(
        endpoint_id=endpoint_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now
    ).filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))


def _deliver_held(endpoint_id: str, lease) -> int:
    """Send the endpoint's due deliveries while holding its lease. The endpoint is read once per
    run and its deliveries are claimed in batches; each attempt's record renews the lease in the
    same statement. Within a run the rate limit is a window (at most N sends in any N/rate
    seconds, N = the rate rounded down, at least 1), so a backlog goes out in bursts instead of
    the worker sleeping 1/rate between messages; between runs `not_before` spaces them."""
    started = time.monotonic()
    sent = 0
    batch: list[EndpointDelivery] = []
    window: deque[float] = deque()
    per_window = max(1, int(settings.WEBHOOK_RATE_PER_SECOND))
    span = per_window / settings.WEBHOOK_RATE_PER_SECOND
    exhausted = False
    try:
        endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id, status=EndpointStatus.ENABLED).first()
        while endpoint is not None and sent < settings.WEBHOOK_MAX_PER_RUN:
            if time.monotonic() - started >= settings.WEBHOOK_RUN_SECONDS:
                break
            wait = (endpoint.not_before - timezone.now()).total_seconds() if endpoint.not_before else 0
            if len(window) >= per_window:
                wait = max(wait, window[-per_window] + span - time.monotonic())
            if wait > 1:
                break  # Retry-After (or a slow rate): the scan comes back when it is time
            if not batch:
                want = min(CLAIM_BATCH, settings.WEBHOOK_MAX_PER_RUN - sent)
                if exhausted or not (batch := _claim_batch(endpoint_id, want)):
                    break
                exhausted = len(batch) < want  # nothing more was due: the final look covers later ones
            if wait > 0:
                time.sleep(wait)
            window.append(time.monotonic())
            outcome = attempt(endpoint, batch.pop(0), lease=lease)
            sent += 1
            if outcome.held_until is None:
                return sent  # our hold was lost (we ran past it) or the endpoint is off now
            lease = outcome.held_until
    finally:
        if batch:  # claimed, not sent: free for the next holder at once
            EndpointDelivery.objects.filter(pk__in=[d.pk for d in batch], claimed_until=batch[0].claimed_until).update(
                claimed_until=None
            )
        # Only our own hold is released, never one a later worker took after ours ran out.
        WebhookEndpoint.objects.filter(pk=endpoint_id, busy_until=lease).update(busy_until=None)
    return sent


@dataclass
class Outcome:
    status: int | None = None
    body: str = ""
    error: str = ""
    retry_after: float | None = None
    duration_ms: int = 0
    held_until: datetime | None = None  # the renewed lease, when the attempt was made under one


def signed_headers(endpoint: WebhookEndpoint, msg_id: str, body: str, now=None) -> dict:
    now = now or timezone.now()
    signatures = [Webhook(secret).sign(msg_id, now, body) for secret in signing_secrets(endpoint, now)]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(signatures),
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }


def _post(target: ssrf.Target, headers: dict, body: bytes) -> Outcome:
    """One POST to the pinned address, no redirects, the first 2 KB of the answer kept."""
    timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT, total=TOTAL_TIMEOUT)
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            target.address, target.port, timeout=timeout, retries=False, maxsize=1,
            server_hostname=target.host, assert_hostname=target.host, cert_reqs="CERT_REQUIRED",
        )
    else:
        pool = urllib3.HTTPConnectionPool(target.address, target.port, timeout=timeout, retries=False, maxsize=1)
    try:
        response = pool.urlopen(
            "POST", target.path, body=body, headers={**headers, "Host": target.host_header},
            redirect=False, preload_content=False, assert_same_host=False, retries=False,
        )
        try:
            kept = response.read(RESPONSE_KEEP_BYTES)
        finally:
            response.release_conn()
            response.close()
        return Outcome(
            status=response.status,
            body=kept.decode("utf-8", "replace"),
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    finally:
        pool.close()


def attempt(endpoint: WebhookEndpoint, delivery: EndpointDelivery, *, lease: datetime | None = None) -> Outcome:
    """One attempt of a claimed delivery; its result recorded and the next attempt scheduled.
    Under the endpoint's `lease`, the record renews it (`Outcome.held_until`, None when lost)."""
    if "event" in delivery._state.fields_cache:
        event = delivery.event
    else:
        event = WebhookEvent.objects.only("type", "body").get(pk=delivery.event_id)
    started = time.monotonic()
    outcome = Outcome()
    try:
        target = ssrf.check_url(endpoint.url)  # again: the name may resolve elsewhere now
    except ssrf.Refused as exc:
        outcome.error = f"refused: {exc}"
    else:
        headers = signed_headers(endpoint, delivery.pk, event.body)
        try:
            outcome = _post(target, headers, event.body.encode())
        except urllib3.exceptions.TimeoutError:
            outcome.error = "timeout"
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            outcome.error = f"connection: {type(exc).__name__}"
    outcome.duration_ms = int((time.monotonic() - started) * 1000)
    _record_outcome(endpoint, delivery, event.type, outcome, lease)
    return outcome


def _jittered(seconds: float) -> float:
    return seconds * (0.9 + random.random() * 0.2)  # noqa: S311 - spreading retries, not a secret


def _record_outcome(
    endpoint: WebhookEndpoint, delivery: EndpointDelivery, event_type: str, outcome: Outcome, lease=None
) -> None:
    now = timezone.now()
    renewed = now + _claim()
    attempt_no = delivery.attempt + 1
    ok = outcome.status is not None and 200 <= outcome.status < 300
    gone = outcome.status == 410
    if outcome.status is not None and not ok and not outcome.error:
        outcome.error = "redirect not followed" if 300 <= outcome.status < 400 else f"HTTP {outcome.status}"
    fields = {
        "attempt": attempt_no, "last_attempt_at": now, "claimed_until": None, "response_status": outcome.status,
        "response_body": outcome.body, "duration_ms": outcome.duration_ms, "error": outcome.error[:500],
        "updated_at": now,
    }
    not_before = now + timedelta(seconds=1 / settings.WEBHOOK_RATE_PER_SECOND)
    if ok:
        fields.update(status=DeliveryStatus.SUCCEEDED, next_attempt_at=None)
    elif gone or attempt_no >= len(RETRY_SCHEDULE):
        fields.update(status=DeliveryStatus.FAILED, next_attempt_at=None)
    else:
        wait = _jittered(RETRY_SCHEDULE[attempt_no])
        if outcome.retry_after is not None:
            # The receiver named its time: honoured (bounded), and nothing else goes to it before.
            wait = min(outcome.retry_after, settings.WEBHOOK_MAX_RETRY_AFTER)
            not_before = max(not_before, now + timedelta(seconds=wait))
        fields.update(status=DeliveryStatus.PENDING, next_attempt_at=now + timedelta(seconds=wait))
    disable_reason = ""
    if ok and endpoint.failing_since is None:
        # The common case: two UPDATEs in autocommit, no lock (nothing about the endpoint changes
        # but its rate-limit time; it is held by this worker).
        EndpointDelivery.objects.filter(pk=delivery.pk).update(**fields)
        if lease is None:
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(not_before=not_before)
        elif WebhookEndpoint.objects.filter(pk=endpoint.pk, busy_until=lease, status=EndpointStatus.ENABLED).update(
            not_before=not_before, busy_until=renewed
        ):
            outcome.held_until = renewed
        _log_attempt(endpoint, delivery, event_type, outcome, attempt_no)
        return
    with transaction.atomic():
        EndpointDelivery.objects.filter(pk=delivery.pk).update(**fields)
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        locked.not_before = not_before
        update = ["not_before"]
        if ok:
            if locked.failing_since is not None:
                locked.failing_since = None
                update.append("failing_since")
        else:
            if locked.failing_since is None:
                locked.failing_since = now
                update.append("failing_since")
            if gone:
                disable_reason = "The receiver answered 410 Gone."
            elif now - locked.failing_since >= FAILING_DISABLES_AFTER:
                disable_reason = "Every delivery failed for 5 days."
            if disable_reason and locked.status == EndpointStatus.ENABLED:
                locked.status = EndpointStatus.DISABLED
                locked.disabled_reason = disable_reason
                update += ["status", "disabled_reason"]
            else:
                disable_reason = ""
        if lease is not None and locked.busy_until == lease and locked.status == EndpointStatus.ENABLED:
            locked.busy_until = renewed
            update.append("busy_until")
            outcome.held_until = renewed
        locked.save(update_fields=[*update, "updated_at"])
        # The holder's copy follows what the next attempt depends on.
        endpoint.not_before, endpoint.failing_since, endpoint.status = locked.not_before, locked.failing_since, locked.status
        if disable_reason:
            notifications.notify(
                locked.user,
                "integration_failed",
                "A webhook endpoint was disabled",
                f"{locked.url}: {disable_reason} Fix the receiver, then enable the endpoint again.",
                data={"kind": "webhook_endpoint", "endpointId": locked.pk},
                priority="high",
                dedupe_key=f"webhook-disabled-{locked.pk}-{now.date().isoformat()}",
            )
    _log_attempt(endpoint, delivery, event_type, outcome, attempt_no)
    if disable_reason:
        logger.warning("webhook endpoint %s disabled: %s", endpoint.pk, disable_reason)


def _log_attempt(endpoint, delivery, event_type: str, outcome: Outcome, attempt_no: int) -> None:
    logger.info(
        "webhook %s %s to endpoint %s (%s): attempt %d, %s in %d ms",
        event_type, delivery.pk, endpoint.pk, ssrf_host(endpoint.url), attempt_no,
        outcome.status if outcome.status is not None else outcome.error, outcome.duration_ms,
    )


def ssrf_host(url: str) -> str:
    """The host alone, for logs (a URL's path or query may carry the receiver's own token)."""
    try:
        return ssrf.urlsplit(url).hostname or "?"
    except ValueError:
        return "?"
