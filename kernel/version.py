"""The one version number of the API contract: the `API-Version` header, `/api/health`'s
`version`, the OpenAPI document's `info.version` and (checked by a test, since pyproject.toml is
static metadata) pyproject's `version` all read this.

MAJOR.MINOR.PATCH: the major part changes only on a breaking change, additions bump the minor.
A client may pin a version with the `API-Version` request header; every version of the current
major up to the one spoken is served (additions are not breaking), anything else is refused.
"""

from __future__ import annotations

import re

API_VERSION = "1.2.0"

_MAJOR, _MINOR, _PATCH = (int(p) for p in API_VERSION.split("."))
# What a client may name: "1", "1.0", "1.1", "1.1.0", ...
SUPPORTED_API_VERSIONS = tuple(f"{_MAJOR}.{minor}" for minor in range(_MINOR + 1))
_REQUESTED = re.compile(r"^\s*v?(\d{1,4})(?:\.(\d{1,4}))?(?:\.(\d{1,4}))?\s*$")


def supports(requested: str) -> bool:
    """Whether a client pinned to `requested` can be served by this server."""
    match = _REQUESTED.match(requested)
    if match is None:
        return False
    major, minor, patch = (int(p) if p is not None else None for p in match.groups())
    if major != _MAJOR:
        return False
    if minor is None:
        return True
    if minor < _MINOR:
        return True
    return minor == _MINOR and (patch is None or patch <= _PATCH)
