"""Wire shapes of /api/webhooks (snake_case here; camelCased by the renderer). The endpoint's
`secret` appears only in the answers that created it (create, rotate-secret)."""

from __future__ import annotations

from rest_framework import serializers

from integrations.webhooks import catalogue
from integrations.webhooks.models import EndpointDelivery, EndpointStatus, WebhookEndpoint
from kernel.api.choices import ChoiceField
from kernel.api.fields import IdFieldsMixin
from kernel.api.strict import StrictSerializer

EVENT_TYPE_CHOICES = list(catalogue.EVENT_TYPES)


class EndpointSerializer(IdFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = WebhookEndpoint
        # overflow_count and disabled_reason: the backlog overflow and why it is off, shown.
        fields = ["id", "url", "description", "event_types", "status", "disabled_reason", "overflow_count",
                  "created_at"]
        read_only_fields = fields


class EndpointWithSecretSerializer(EndpointSerializer):
    secret = serializers.CharField(read_only=True)

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class EndpointCreateSerializer(StrictSerializer):
    url = serializers.URLField(max_length=2000)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    event_types = serializers.ListField(
        child=ChoiceField(choices=EVENT_TYPE_CHOICES), required=False, default=list, max_length=len(EVENT_TYPE_CHOICES)
    )


class EndpointUpdateSerializer(StrictSerializer):
    url = serializers.URLField(max_length=2000, required=False)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    event_types = serializers.ListField(
        child=ChoiceField(choices=EVENT_TYPE_CHOICES), required=False, max_length=len(EVENT_TYPE_CHOICES)
    )
    status = ChoiceField(choices=EndpointStatus.choices, required=False)


class SecretSerializer(serializers.Serializer):
    secret = serializers.CharField()
    previous_secret_expires_at = serializers.DateTimeField()


class DeliverySerializer(IdFieldsMixin, serializers.ModelSerializer):
    event_id = serializers.CharField(read_only=True)
    event_type = serializers.CharField(source="event.type", read_only=True)

    class Meta:
        model = EndpointDelivery
        fields = ["id", "event_id", "event_type", "attempt", "status", "response_status", "response_body",
                  "duration_ms", "error", "created_at", "next_attempt_at", "last_attempt_at"]
        read_only_fields = fields


class DeliveryQuerySerializer(StrictSerializer):
    status = ChoiceField(choices=EndpointDelivery._meta.get_field("status").choices, required=False)
    limit = serializers.IntegerField(required=False)
    skip = serializers.IntegerField(required=False)


class EventTypeSerializer(serializers.Serializer):
    type = serializers.CharField()
    description = serializers.CharField()
    schema = serializers.JSONField()
