"""What a long-running process (web, ws, worker) does once its code is loaded.

Garbage collection. What a process loads at start (modules, settings, models, URL patterns,
serializer and view classes: about 180,000 objects the collector tracks in a web process) lives
as long as the process and is never garbage, yet a full collection walks all of it. Measured in a
web process serving the task list: the first full collection came after ~3,000 requests and took
21-88 ms, a stall of that request and of every request queued behind it on the worker; later
ones took 2-3 ms. `settle()` runs that first collection at start instead, then `gc.freeze()`
moves what is left to the permanent generation, which no collection visits: full collections
then took 1-2 ms. A Celery worker freezes in `worker_init`, before its pool forks, so the
children inherit it. The generations' thresholds stay CPython's own: raising them measured no
faster here and makes each young collection longer.
"""

from __future__ import annotations

import gc

from django.urls import get_resolver


def settle(*, load_urls: bool = True) -> int:
    """Freeze what is loaded so far out of later collections; returns how many objects that is.

    With `load_urls` the URL configuration is loaded first, which imports every view module
    (Django otherwise does it on the first request, after the freeze). Start-up garbage is
    collected before freezing, so none of it is kept for good."""
    if load_urls:
        get_resolver().url_patterns  # noqa: B018 - loading the URLconf is the point
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
