from __future__ import annotations

from rest_framework import serializers

from integrations.calendar.models import CalendarFeed
from kernel.api.fields import IdFieldsMixin


class FeedCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="", trim_whitespace=True)


class FeedSerializer(IdFieldsMixin, serializers.ModelSerializer):
    """A feed as listed: never its URL (only the hash of its token is kept)."""

    class Meta:
        model = CalendarFeed
        fields = ["id", "name", "created_at", "rotated_at"]
        read_only_fields = fields


class FeedWithUrlSerializer(FeedSerializer):
    """A feed as created or rotated: the only answers that hold its URL."""

    url = serializers.CharField(read_only=True)
    webcal_url = serializers.CharField(read_only=True)

    class Meta(FeedSerializer.Meta):
        fields = [*FeedSerializer.Meta.fields, "url", "webcal_url"]
        read_only_fields = fields
