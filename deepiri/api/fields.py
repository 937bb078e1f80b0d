from __future__ import annotations

from rest_framework import serializers

from deepiri.api.choices import ChoiceField


class IdFieldsMixin(serializers.Serializer):
    """Emit the id as both `_id` and `id` (API.md)."""

    serializer_choice_field = ChoiceField  # model choices also list the allowed values in errors

    def get_fields(self):
        fields = super().get_fields()
        if "id" in fields and "_id" not in fields:
            fields["_id"] = serializers.CharField(source="pk", read_only=True)
        return fields
