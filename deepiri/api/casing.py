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


def camelize(data):
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            if isinstance(k, str):
                if k in OPAQUE_KEYS:
                    out[to_camel(k)] = v
                    continue
                k = to_camel(k)
            out[k] = camelize(v) if isinstance(v, (dict, list, tuple)) else v
        return out
    if isinstance(data, (list, tuple)):
        return [camelize(v) if isinstance(v, (dict, list, tuple)) else v for v in data]
    return data


def underscoreize(data):
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            if isinstance(k, str):
                k = to_snake(k)
                if k in OPAQUE_KEYS:
                    out[k] = v
                    continue
            out[k] = underscoreize(v) if isinstance(v, (dict, list)) else v
        return out
    if isinstance(data, list):
        return [underscoreize(v) if isinstance(v, (dict, list)) else v for v in data]
    return data
