"""Scopes of personal access tokens, and how a view declares the one it needs.

A view reachable with a personal access token says so with a class attribute:

    required_scopes = read_write("tasks:read", "tasks:write")   # or {"GET": "tasks:read", ...}

A method missing from the mapping, or a view without the attribute, is not reachable with a
token at all (default deny): account, session, token and staff routes simply declare nothing.
JWT and session requests ignore the attribute.
"""

from __future__ import annotations

SCOPES: dict[str, str] = {
    "tasks:read": "Read tasks",
    "tasks:write": "Create, change, complete and delete tasks",
    "challenges:read": "Read challenges",
    "challenges:write": "Generate, complete and change challenges",
    "gamification:read": "Read points, levels, badges, streaks and leaderboards",
    "integrations:read": "Read integration connections and their sync state",
    "webhooks:manage": "Manage outgoing webhook endpoints",
    "profile:read": "Read the profile, preferences and stats",
}

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def read_write(read: str, write: str | None = None) -> dict[str, str]:
    """`read` for GET/HEAD/OPTIONS, `write` (if any) for POST/PUT/PATCH/DELETE."""
    for scope in (read, write):
        if scope is not None and scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r}")
    needed = dict.fromkeys(SAFE_METHODS, read)
    if write is not None:
        needed.update(dict.fromkeys(WRITE_METHODS, write))
    return needed


def required_scope(view, method: str) -> str | None:
    """The scope `view` needs for `method`, or None when a token may not call it."""
    needed = getattr(view, "required_scopes", None) or {}
    return needed.get(method.upper())
