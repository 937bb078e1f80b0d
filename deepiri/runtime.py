"""What a long-running process (web, ws, worker) does once its code is loaded.

Garbage collection. What a process loads at start (modules, settings, models, URL patterns,
serializer and view classes: about 180,000 objects the collector tracks in a web process) lives
as long as the process and is never garbage, yet every full collection walked all of it: 88 ms
on the bench machine, a stall of the request that happened to trigger it and of every request
queued behind it on that worker. `gc.freeze()` moves those objects to the permanent generation,
which no collection visits; a full collection then took about 1 ms. The generations' thresholds
stay CPython's own: raising them measured no faster here and makes each young collection longer.
"""

from __future__ import annotations

import gc


def settle(*, load_urls: bool = True) -> int:
    """Freeze what is loaded so far out of later collections; returns how many objects that is.

    With `load_urls` the URL configuration is loaded first, which imports every view module
    (Django otherwise does it on the first request, after the freeze). Start-up garbage is
    collected before freezing, so none of it is kept for good."""
    if load_urls:
        from django.urls import get_resolver

        get_resolver().url_patterns  # noqa: B018 - loading the URLconf is the point
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
