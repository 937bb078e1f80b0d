from __future__ import annotations

from rest_framework import serializers


class IdFieldsMixin(serializers.Serializer):
    """Emit the id as both `_id` and `id` (API.md)."""

    def get_fields(self):
        fields = super().get_fields()
        if "id" in fields and "_id" not in fields:
            fields["_id"] = serializers.CharField(source="pk", read_only=True)
        return fields
