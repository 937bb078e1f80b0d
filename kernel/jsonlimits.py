"""Limits on JSON that comes from outside (HTTP bodies, WebSocket messages, stored free-form fields).

Everything here walks the value with an explicit stack, never recursion: a small body nested
hundreds deep must cost a 400, not a RecursionError (and orjson refuses to *write* anything
nested deeper than 254 levels, so such a value, once stored, would break every response that
includes it).

PostgreSQL refuses NUL in text and `\\u0000` in jsonb, so a NUL anywhere in a string or key is
refused here, before it can reach the database as a 500.

Numbers are bounded to what every reader can take back: integers within IEEE-754's safe range
(|n| <= 2**53 - 1, what JavaScript clients read exactly) and finite floats within the same
magnitude. A larger number goes into PostgreSQL's jsonb as an exact numeric, comes back as a
Python int, and orjson refuses to write an integer beyond 64 bits: the owner's every read
would be a 500. Floats are bounded too because jsonb prints 1e300 without an exponent, so it
too comes back as a (huge) int.
"""

from __future__ import annotations

import math

import orjson

from kernel.api.errors import ErrorCode

MAX_SAFE_INTEGER = 2**53 - 1
MAX_DEPTH = 32  # containers inside containers; our own payloads need fewer than 6


class JSONLimitError(ValueError):
    """The value is valid JSON but breaks a limit; `code` is a stable snake_case reason."""

    def __init__(self, message: str, code: str, where: tuple = ()):
        super().__init__(message)
        self.message = message
        self.code = code
        self.where = where  # keys/indexes down to the offending value, when known


def check(value, *, max_depth: int = MAX_DEPTH, max_nodes: int | None = None, path: str = "") -> None:
    """Raise JSONLimitError when `value` nests containers deeper than `max_depth`, holds more
    than `max_nodes` values in all, has a NUL character in any string or key, or a number
    that is not finite or beyond +/-MAX_SAFE_INTEGER."""
    stack = [(value, 0, ())]
    nodes = 0
    while stack:
        node, depth, where = stack.pop()
        nodes += 1
        if max_nodes is not None and nodes > max_nodes:
            raise JSONLimitError(f"{path or 'JSON'} has more than {max_nodes} values.", ErrorCode.TOO_LARGE)
        if isinstance(node, str):
            if "\x00" in node:
                raise JSONLimitError(f"{path or 'JSON'} contains a NUL character.", ErrorCode.NULL_CHARACTER, where)
            continue
        if isinstance(node, (int, float)) and not isinstance(node, bool):
            if not number_ok(node):
                raise JSONLimitError(
                    f"{path or 'JSON'} has a number beyond +/-{MAX_SAFE_INTEGER} or not finite.",
                    ErrorCode.NUMBER_OUT_OF_RANGE,
                    where,
                )
            continue
        if isinstance(node, dict):
            items = node.items()
        elif isinstance(node, (list, tuple)):
            items = enumerate(node)
        else:
            continue
        depth += 1
        if depth > max_depth:
            raise JSONLimitError(f"{path or 'JSON'} is nested deeper than {max_depth} levels.", ErrorCode.TOO_DEEP)
        for key, child in items:
            if isinstance(key, str) and "\x00" in key:
                raise JSONLimitError(f"{path or 'JSON'} contains a NUL character.", ErrorCode.NULL_CHARACTER, where)
            stack.append((child, depth, (*where, key)))


def number_ok(number) -> bool:
    if isinstance(number, float) and not math.isfinite(number):
        return False
    return -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER


def loads(raw: bytes | str, *, max_depth: int = MAX_DEPTH):
    """Parse and check: a ValueError for malformed JSON (orjson itself stops at 1024 levels,
    without recursion in Python), a JSONLimitError for a limit broken."""
    data = orjson.loads(raw)
    check(data, max_depth=max_depth)
    return data
