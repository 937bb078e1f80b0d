from __future__ import annotations

from django.db import models
from rest_framework import serializers
from rest_framework.serializers import ModelSerializer

from deepiri.api.choices import ChoiceField
from deepiri.api.times import UTCDateTimeField


class DateTimeField(UTCDateTimeField, serializers.DateTimeField):
    """Out: UTC with `Z`, whatever zone is active. In: DRF's parsing."""


class IdFieldsMixin(serializers.Serializer):
    """Emit the id as both `_id` and `id` (API.md)."""

    serializer_choice_field = ChoiceField  # model choices also list the allowed values in errors
    serializer_field_mapping = {**ModelSerializer.serializer_field_mapping, models.DateTimeField: DateTimeField}

    def get_fields(self):
        fields = super().get_fields()
        if "id" in fields and "_id" not in fields:
            fields["_id"] = serializers.CharField(source="pk", read_only=True)
        return fields
