"""kernel.runtime: a server process keeps what it loaded at start out of garbage collection."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.db import connection

from devtools.testing.daphne import database_url_for
from kernel import runtime

# Run in a fresh interpreter: what the entry point loads, not what this test process has.
PROBE = """
import gc
import {module}
from django.urls import get_resolver
from tasks.views import TaskViewSet  # loaded with the URLconf, before the freeze
tracked = gc.get_objects()  # every generation the collector visits; frozen objects are in none
print(gc.get_freeze_count(), any(o is TaskViewSet for o in tracked), any(o is get_resolver() for o in tracked))
"""


@pytest.mark.django_db
@pytest.mark.parametrize("module", ["deepiri.wsgi", "deepiri.asgi"])
def test_a_server_entry_point_freezes_what_it_loaded_views_included(module):
    # the entry points check at start that the database exists: name one that does
    database_url = database_url_for(connection.settings_dict) if connection.vendor == "postgresql" else ""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "deepiri.settings_test", "DATABASE_URL": database_url}
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", PROBE.format(module=module)], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    frozen, view_tracked, resolver_tracked = out.stdout.split()[-3:]
    assert int(frozen) > 50_000
    assert view_tracked == "False" and resolver_tracked == "False"


def test_settle_collects_start_up_garbage_before_freezing():
    """A cycle that is already garbage is collected, not kept for good in the permanent generation."""
    import gc
    import weakref

    class Node:
        pass

    node = Node()
    node.self = node
    gone = weakref.ref(node)
    del node
    before = gc.get_freeze_count()
    try:
        assert runtime.settle(load_urls=False) >= before
        assert gone() is None
    finally:
        gc.unfreeze()  # this test process goes on collecting as usual
