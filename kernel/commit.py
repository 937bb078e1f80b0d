"""Follow-up work that runs once the current transaction commits.

    after_commit(fn, *args, **kwargs)

For an app's own reactions to what it just did (push a socket message, notify the user, finish a
session): a direct call, deferred so a rolled-back change tells no one. An exception there is
logged, never raised into the request that already committed. Outside a transaction it runs at
once. Work that must survive a crash goes through `kernel.jobs` instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from django.db import transaction

logger = logging.getLogger(__name__)


def run_logged(fn: Callable, *args, **kwargs) -> None:
    try:
        fn(*args, **kwargs)
    except Exception:  # after the commit there is no one left to raise to
        logger.exception("after-commit work %s failed", getattr(fn, "__qualname__", fn))


def after_commit(fn: Callable, *args, **kwargs) -> None:
    transaction.on_commit(partial(run_logged, fn, *args, **kwargs))
