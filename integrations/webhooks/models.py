"""Outgoing webhooks: a user's endpoints, the events recorded for them, and one delivery row per
(event, endpoint).

A delivery's id is the `webhook-id` the receiver sees, the same on every attempt and resend, and
the (event, endpoint) pair is unique: a worker killed mid-send, a job published twice or two
scans racing can repeat an attempt, never mint a second id for the same message.

Signing secrets are stored only as Fernet tokens (`integrations.crypto`), never serialised
except once, in the answer that created them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from integrations import crypto
from kernel.models import BaseModel, label_of


class EndpointStatus(models.TextChoices):
    ENABLED = "enabled"
    DISABLED = "disabled"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"  # waiting for its (next) attempt
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # gave up: the schedule ran out, the receiver said 410, or the endpoint was deleted


class WebhookEndpoint(BaseModel):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=500, blank=True, default="")
    event_types = models.JSONField(default=list, blank=True)  # empty: every type
    status = models.CharField(max_length=10, choices=EndpointStatus.choices, default=EndpointStatus.ENABLED)
    disabled_reason = models.CharField(max_length=300, blank=True, default="")
    secret_enc = models.TextField()
    # After a rotation the old secret signs beside the new one until this time.
    previous_secret_enc = models.TextField(blank=True, default="")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    # Since when every attempt failed (None while the last one succeeded): 5 days disables it.
    failing_since = models.DateTimeField(null=True, blank=True)
    # Concurrency 1: the worker delivering to this endpoint holds it until this time (a lease,
    # so a killed worker's hold runs out).
    busy_until = models.DateTimeField(null=True, blank=True)
    # Rate limit and Retry-After: nothing is sent to this endpoint before this time.
    not_before = models.DateTimeField(null=True, blank=True)
    # Events not queued because the backlog was full.
    overflow_count = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["user", "created_at"], name="webhook_endpoint_user")]

    def __str__(self):
        return f"{self.url} ({label_of(self, 'user')})"

    @property
    def secret(self) -> str:
        return crypto.decrypt(self.secret_enc)

    @secret.setter
    def secret(self, value: str) -> None:
        self.secret_enc = crypto.encrypt(value)

    # Moved on by every save or delete in this process: `services.record` keeps a user's enabled
    # endpoints on the user object for one request or job and re-reads them after a change.
    generation = 0

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        WebhookEndpoint.generation += 1

    def delete(self, *args, **kwargs):
        result = super().delete(*args, **kwargs)
        WebhookEndpoint.generation += 1
        return result

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class WebhookEvent(BaseModel):
    """One state change as it committed: `body` is the exact JSON sent (the Standard Webhooks
    envelope), written once in the emitter's transaction so every attempt signs the same bytes."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    type = models.CharField(max_length=50)
    body = models.TextField()

    def __str__(self):
        return f"{self.type} {self.pk}"


class EndpointDelivery(BaseModel):
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempt = models.PositiveIntegerField(default=0)  # attempts made so far
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    # A worker sending it holds it until this time (a killed worker's claim runs out).
    claimed_until = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, default="")  # the first 2 KB of the answer
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["event", "endpoint"], name="webhook_endpoint_delivery_once")]
        indexes = [
            models.Index(fields=["endpoint", "created_at"], name="webhook_endpoint_delivery_log"),
            models.Index(fields=["next_attempt_at"], name="webhook_endpoint_delivery_due", condition=Q(status="pending")),
        ]

    def __str__(self):
        return f"{self.pk} -> {self.endpoint_id} ({self.status})"
