"""Writes of incremental sync: only the change log's retention (the log itself is written by the
database trigger, integrations.sync.triggers)."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.utils import timezone

from integrations.sync.models import SyncChange
from integrations.sync.selectors import retention

BATCH = 5000
# Rows are kept a day past the cursor lifetime: a row's time is its INSERT, and a transaction
# may commit a while after it, so the last cursor allowed may still need it.
MARGIN = timedelta(days=1)


def cleanup() -> int:
    """Delete change-log rows (tombstones included) older than the retention, in batches so no
    statement holds many row locks; safe to run twice or concurrently (a row deleted by the other
    run is simply not counted)."""
    cutoff = timezone.now() - retention() - MARGIN
    table = SyncChange._meta.db_table
    total = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE created_at < %s "  # noqa: S608 - our table name
                "ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED)",
                [cutoff, BATCH],
            )
            deleted = cursor.rowcount
        total += deleted
        if deleted < BATCH:
            return total
