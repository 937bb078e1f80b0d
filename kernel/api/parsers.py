from __future__ import annotations

import orjson
from django.conf import settings
from rest_framework.exceptions import ErrorDetail, ParseError, ValidationError
from rest_framework.parsers import JSONParser

from kernel import jsonlimits
from kernel.api.casing import to_camel, to_snake, underscoreize
from kernel.api.errors import ErrorCode

NUMBER_OUT_OF_RANGE = (
    f"Numbers must be finite and between -{jsonlimits.MAX_SAFE_INTEGER} and {jsonlimits.MAX_SAFE_INTEGER}."
)

MAX_REPORTED = 20


class CamelCaseJSONParser(JSONParser):
    """Parses JSON bodies (orjson), checks the nesting depth and NUL characters before anything
    walks the value (kernel.jsonlimits), then turns camelCase keys into snake_case."""

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read(settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) if stream is not None else b""
        if not raw:
            return {}
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"Malformed JSON: {exc}") from exc
        check_limits(data)
        if isinstance(data, dict):
            return _set_aside_snake_case(data)
        if isinstance(data, list):  # a bulk body: each object in it follows the rules of one
            return [_set_aside_snake_case(item) if isinstance(item, dict) else underscoreize(item) for item in data]
        return underscoreize(data)


def check_limits(data, *, max_depth: int = jsonlimits.MAX_DEPTH) -> None:
    """kernel.jsonlimits on a parsed body, as DRF errors: a field error (400) where the
    offending value has a place in the body, a parse error (400) otherwise."""
    try:
        jsonlimits.check(data, max_depth=max_depth, path="The request body")
    except jsonlimits.JSONLimitError as exc:
        if exc.code == ErrorCode.NULL_CHARACTER and exc.where:
            raise ValidationError(_field_error(exc.where, "Null characters are not allowed.")) from exc
        if exc.code == ErrorCode.NUMBER_OUT_OF_RANGE and exc.where:
            raise ValidationError(_field_error(exc.where, NUMBER_OUT_OF_RANGE)) from exc
        raise ParseError(exc.message, code=exc.code) from exc


class Body(dict):
    """A parsed JSON object; `wrong_case` holds the field errors of its snake_case keys."""

    wrong_case: dict


def _set_aside_snake_case(body: dict) -> Body:
    """Input is camelCase only: `due_date` would otherwise reach the `due_date` field unnoticed, and
    a client would learn a second spelling that no answer ever uses. Such keys are taken out of
    the body and their errors kept beside it, so that the serializer reports them together with
    every other field error (kernel.api.strict) instead of hiding them behind the first."""
    snake = [key for key in body if isinstance(key, str) and "_" in key.lstrip("_")]
    parsed = Body(underscoreize({k: v for k, v in body.items() if k not in snake}))
    parsed.wrong_case = {
        key: [ErrorDetail(f"Keys are camelCase: send `{to_camel(key)}`.", code=ErrorCode.WRONG_CASE)]
        for key in snake[:MAX_REPORTED]
    }
    return parsed


def wrong_case_errors(data) -> dict:
    """The snake_case keys set aside from a parsed body, as field errors ({} when none)."""
    return getattr(data, "wrong_case", None) or {}


def _field_error(where: tuple, message: str) -> dict:
    """{"field": {"sub": ["message"]}} for the body path `where`, keys as serializers name them."""
    error: dict | list = [message]
    for key in reversed(where):
        error = {to_snake(key) if isinstance(key, str) else str(key): error}
    return error
