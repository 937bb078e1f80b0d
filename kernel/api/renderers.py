"""The `{success, data}` envelope, camelCase keys, and a fast JSON encoder (orjson)."""

from __future__ import annotations

import logging

import orjson
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

from kernel.api.casing import camelize

logger = logging.getLogger(__name__)
_fallback = JSONEncoder()


def _default(obj):
    return _fallback.default(obj)


_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z


def dumps(data) -> bytes:
    # OPT_UTC_Z: a datetime handed to the renderer as is (UTC from the database) goes out with
    # `Z`, like every serializer's date-time (kernel.api.times).
    try:
        return orjson.dumps(data, default=_default, option=_OPTIONS)
    except orjson.JSONEncodeError as exc:
        if "64-bit" not in str(exc):
            raise
    # A number stored before inputs were bounded (kernel.jsonlimits) is beyond what orjson
    # writes: answer with it as a float (or null) rather than break every read of its owner.
    logger.warning("answer holds an integer beyond 64 bits; written as a float")
    return orjson.dumps(_without_huge_integers(data), default=_default, option=_OPTIONS)


def _without_huge_integers(value):
    """A copy of `value` whose integers orjson cannot write are floats (null when even a float
    cannot hold them). Lists and dicts are rebuilt with an explicit stack, not recursion."""
    root = [value]
    stack = [(root, 0)]
    while stack:
        container, key = stack.pop()
        node = container[key]
        if isinstance(node, bool):
            continue
        if isinstance(node, int):
            if not -(2**63) <= node < 2**64:
                try:
                    container[key] = float(node)
                except OverflowError:
                    container[key] = None
        elif isinstance(node, dict):
            copy = dict(node)
            container[key] = copy
            stack.extend((copy, k) for k in copy)
        elif isinstance(node, (list, tuple)):
            copy = list(node)
            container[key] = copy
            stack.extend((copy, i) for i in range(len(copy)))
    return root[0]


def envelope(data):
    """Wrap a payload unless it already is an envelope (has `success`)."""
    if isinstance(data, dict) and "success" in data:
        return data
    return {"success": True, "data": data}


class EnvelopeJSONRenderer(JSONRenderer):
    charset = None  # application/json has no charset parameter

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if data is None:
            if response is not None and response.status_code == 204:
                return b""
            data = {"success": True}
        if response is not None and response.status_code >= 400:
            body = data  # already shaped by the exception handler
        else:
            body = envelope(data)
            if response is not None and response.status_code in (201, 202):
                set_location(response, (renderer_context or {}).get("view"), body.get("data"))
        return dumps(camelize(body))


def set_location(response, view, data) -> None:
    """`Location` of what a 201 (or a 202 that already has an address) made, from the view's
    `created_location` template filled with the answer's own fields ("/api/tasks/{id}").

    Here rather than in each view so that an idempotent replay, which rebuilds the answer from
    its stored body, carries the same header as the first answer."""
    template = getattr(view, "created_location", None)
    if not template or response.has_header("Location"):
        return
    try:
        response["Location"] = template.format_map(data if isinstance(data, dict) else {})
    except (KeyError, IndexError, TypeError):
        return
