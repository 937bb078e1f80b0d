"""`POST /api/logs`: the web client's error logger writes into our structured log.

Signed-in clients only (their bearer token), answered 204. Each entry becomes one record of
the `deepiri.client` logger, so it is a JSON line like every other, carrying the request id
and user id (kernel.logging's filter) plus what the client sent under `client`.

What a client may send is bounded, because it lands in every log pipeline downstream:
- the body is at most CLIENT_LOG_MAX_BYTES (413 above, read no further),
- `message` at most MAX_MESSAGE_CHARS, `context` an object at most MAX_CONTEXT_DEPTH deep with
  at most MAX_CONTEXT_KEYS keys in all (400 with a field error otherwise),
- control characters are escaped (a message cannot forge a second line in a plain-text log),
- CLIENT_LOG_RATE entries per user (a fixed window in Redis, 429 with Retry-After).
Nothing reads logs back over HTTP.
"""

from __future__ import annotations

import logging
import re

import orjson
from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from kernel.api.choices import ChoiceField
from kernel.api.exceptions import PayloadTooLarge
from kernel.api.parsers import check_limits
from kernel.api.throttling import FixedWindowMixin

client_logger = logging.getLogger("deepiri.client")

MAX_MESSAGE_CHARS = 2000
MAX_CONTEXT_DEPTH = 4
MAX_CONTEXT_KEYS = 100
MAX_STRING_CHARS = 1000
LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "log": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "fatal": logging.CRITICAL,
    "critical": logging.CRITICAL,
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def _escape(text: str, limit: int = MAX_STRING_CHARS) -> str:
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return text[:limit]


class ClientLogParser(JSONParser):
    """Plain JSON (the client's own keys are kept as sent, not re-cased), read no further than
    the cap: a larger body is refused without being held in memory."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.CLIENT_LOG_MAX_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(f"A log entry may be at most {limit} bytes.")
        if not raw:
            return {}
        try:
            data = orjson.loads(raw)  # nesting beyond orjson's own limit is a decode error, not a crash
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"Malformed JSON: {exc}") from exc
        # The same NUL and number bounds as every other body; the context's own, tighter depth
        # rule (ContextField) names the field, so depth is left to orjson's limit here.
        check_limits(data, max_depth=1024)
        return data


class ClientLogThrottle(FixedWindowMixin, UserRateThrottle):
    scope = "client_logs"

    def get_rate(self):
        return settings.CLIENT_LOG_RATE


def _check_context(value, depth: int, counter: list[int]):
    """The context with strings capped; raises ValueError when too deep or too wide."""
    if isinstance(value, dict):
        if depth >= MAX_CONTEXT_DEPTH:
            raise ValueError(f"context may be nested at most {MAX_CONTEXT_DEPTH} levels deep.")
        out = {}
        for key, item in value.items():
            counter[0] += 1
            if counter[0] > MAX_CONTEXT_KEYS:
                raise ValueError(f"context may hold at most {MAX_CONTEXT_KEYS} keys and items.")
            out[_escape(str(key), 100)] = _check_context(item, depth + 1, counter)
        return out
    if isinstance(value, list):
        if depth >= MAX_CONTEXT_DEPTH:
            raise ValueError(f"context may be nested at most {MAX_CONTEXT_DEPTH} levels deep.")
        out = []
        for item in value:
            counter[0] += 1
            if counter[0] > MAX_CONTEXT_KEYS:
                raise ValueError(f"context may hold at most {MAX_CONTEXT_KEYS} keys and items.")
            out.append(_check_context(item, depth + 1, counter))
        return out
    if isinstance(value, str):
        return _escape(value)
    return value  # numbers, booleans, null


@extend_schema_field(OpenApiTypes.OBJECT)
class ContextField(serializers.Field):
    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError("context must be an object.")
        try:
            return _check_context(data, 0, [0])
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def to_representation(self, value):
        return value


class ClientLogSerializer(serializers.Serializer):
    timestamp = serializers.CharField(required=False, allow_blank=True, max_length=64)
    level = ChoiceField(choices=sorted(LEVELS), required=False, default="info")
    message = serializers.CharField(max_length=MAX_MESSAGE_CHARS, allow_blank=True, trim_whitespace=False)
    context = ContextField(required=False, default=dict)

    def validate_level(self, value):
        return value.lower()

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown[:10]})
            if isinstance(data.get("level"), str):
                data = {**data, "level": data["level"].lower()}
        return super().to_internal_value(data)


class ClientLogView(APIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [ClientLogParser]
    throttle_classes = [ClientLogThrottle]

    @extend_schema(
        request=ClientLogSerializer,
        responses={204: OpenApiResponse(description="written to the server log")},
        tags=["logs"],
        summary="Write a client log entry",
    )
    def post(self, request):
        ser = ClientLogSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        entry = ser.validated_data
        client_logger.log(
            LEVELS[entry["level"]],
            "client: %s",
            _escape(entry["message"], MAX_MESSAGE_CHARS),
            extra={
                "client": {
                    "level": entry["level"],
                    "timestamp": _escape(entry.get("timestamp") or "", 64),
                    "context": entry["context"],
                    "user_agent": _escape(request.headers.get("User-Agent", ""), 300),
                }
            },
        )
        return Response(status=204)

