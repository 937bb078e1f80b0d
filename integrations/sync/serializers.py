"""Query and answer shapes of `GET /api/sync`."""

from __future__ import annotations

from rest_framework import serializers

from integrations.sync.models import SyncKind
from kernel.api.strict import StrictSerializer

DEFAULT_LIMIT = 100
MAX_LIMIT = 500


class SyncQuerySerializer(StrictSerializer):
    cursor = serializers.CharField(required=False, allow_blank=True, help_text=(
        "The `cursor` of the previous answer; absent or empty: the full state."))
    limit = serializers.IntegerField(required=False, min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT,
                                     help_text=f"Objects per page, 1..{MAX_LIMIT}, default {DEFAULT_LIMIT}.")


class SyncEntrySerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=SyncKind.choices)
    id = serializers.CharField()
    deleted = serializers.BooleanField(help_text="A tombstone: the object is gone (`data` is null).")
    data = serializers.DictField(allow_null=True, help_text=(
        "The object as its own endpoint answers it (Task, Challenge, Notification, User), at read time."))


class SyncPageSerializer(serializers.Serializer):
    changes = SyncEntrySerializer(many=True)
    cursor = serializers.CharField(help_text="Pass it back as `cursor`: the next page, or (with hasMore false) the next sync.")
    has_more = serializers.BooleanField()
    full = serializers.BooleanField(help_text="This page is part of the full state (no cursor was given).")
