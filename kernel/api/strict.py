"""One unknown-field policy for request bodies: a field the endpoint does not know is refused
with a field error (a typo is a 400, not a silent no-op), reported together with every other
field error. The resource's own read-only fields (`_id`, `createdAt`, ...) are accepted and
ignored, so a client may send back what it read. snake_case keys, set aside by the parser
(kernel.api.parsers), are reported here too, with the rest."""

from __future__ import annotations

from collections.abc import Mapping

from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from kernel.api.errors import ErrorCode
from kernel.api.parsers import wrong_case_errors

MAX_REPORTED = 20


class StrictInputMixin:
    def to_internal_value(self, data):
        unknown: dict = {}
        if isinstance(data, Mapping):
            known = set(self.fields) | {"_id", "id"}
            names = sorted(str(key) for key in data if key not in known)
            unknown = {name: [ErrorDetail("Unknown field.", code=ErrorCode.UNKNOWN_FIELD)] for name in names[:MAX_REPORTED]}
            unknown.update(wrong_case_errors(data))
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if unknown and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **unknown}) from exc
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


class StrictSerializer(StrictInputMixin, serializers.Serializer):
    """A plain input serializer under the unknown-field policy."""
