"""Accounts' wiring: everything this app plugs in at start, in one place (`manage.py wiring`
prints the result). Called from AccountsConfig.ready()."""

from __future__ import annotations

import kernel.api.schema  # noqa: F401  (OpenAPI extensions for our auth classes, read when the schema is built)
from accounts import auth_cache
from kernel import exports
from kernel.api.times import iso_utc


def export_account(user) -> dict:
    return {
        "friends": list(user.friends.values_list("id", flat=True)),
        "last_login": iso_utc(user.last_login),
        "social_accounts": list(user.socialaccount_set.values("provider", "uid", "date_joined")),
    }


def register() -> None:
    exports.register("account", export_account)
    # Cached principals are dropped when a user row or its groups change (Django signals on
    # this app's own model, not domain events).
    auth_cache.connect()
