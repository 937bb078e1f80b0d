"""snake_case <-> camelCase for the wire (API.md: JSON keys are camelCase).

Our own implementation rather than djangorestframework-camel-case's, for two reasons: that
library turns `_id` into `Id` (we must emit `_id`), and its regex per key is slow on big lists;
here each distinct key is converted once and cached.

Values under an OPAQUE key are data, not field names (e.g. `tasksByType: {"google_docs": 3}`),
and are passed through untouched in both directions.
"""

from __future__ import annotations

import re
from functools import lru_cache

OPAQUE_KEYS: set[str] = {
    "tasks_by_type",
    "challenges_by_type",
    "source_data",
    "raw",
    "heatmap",
}

_UPPER = re.compile(r"(?<=[a-z0-9])([A-Z])")


@lru_cache(maxsize=4096)
def to_camel(key: str) -> str:
    if "_" not in key or key.startswith("_"):
        return key
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@lru_cache(maxsize=4096)
def to_snake(key: str) -> str:
    if key.startswith("_") or key.islower():
        return key
    return _UPPER.sub(r"_\1", key).lower()


def _convert(data, convert_key, opaque_before: bool):
    """Copy `data` with every string key converted, walking with an explicit stack (no
    recursion: a hostile body nested hundreds deep must not overflow the interpreter's stack).
    Keys in OPAQUE_KEYS keep their value as is; `opaque_before` says whether the key is looked
    up before conversion (outgoing snake_case keys) or after it (incoming camelCase keys)."""
    if isinstance(data, dict):
        root = {}
    elif isinstance(data, (list, tuple)):
        root = []
    else:
        return data
    stack = [(data, root)]
    containers = (dict, list, tuple)
    while stack:
        src, dst = stack.pop()
        if isinstance(src, dict):
            for k, v in src.items():
                opaque = False
                if isinstance(k, str):
                    if opaque_before:
                        opaque = k in OPAQUE_KEYS
                        k = convert_key(k)
                    else:
                        k = convert_key(k)
                        opaque = k in OPAQUE_KEYS
                if opaque or not isinstance(v, containers):
                    dst[k] = v
                else:
                    child = {} if isinstance(v, dict) else []
                    dst[k] = child
                    stack.append((v, child))
        else:
            for v in src:
                if isinstance(v, containers):
                    child = {} if isinstance(v, dict) else []
                    dst.append(child)
                    stack.append((v, child))
                else:
                    dst.append(v)
    return root


def camelize(data):
    return _convert(data, to_camel, opaque_before=True)


def underscoreize(data):
    return _convert(data, to_snake, opaque_before=False)
