"""The change log `GET /api/sync` reads: one row per write of a synced row, inserted by a
PostgreSQL trigger (`integrations.sync.triggers`) in the writing transaction itself, so every
write path counts (a service, a queryset `update()`/`delete()`, a cascade, the admin) and a
deletion's tombstone commits or rolls back with the deletion.

`xid` is the writing transaction's 64-bit id: a cursor is a database snapshot, and the next read
returns the rows whose transaction that snapshot did not see yet. Ordering by commit time is
thereby exact with no time window: a transaction that took its id earlier but commits later is
still "not seen" by the old snapshot and is returned the next time.

`user_id` is a plain column, not a foreign key: the trigger writes tombstones while a user's
rows are deleted in a cascade, before the user row goes (which then purges the user's log).
"""

from __future__ import annotations

from django.db import models


class SyncKind(models.TextChoices):
    TASK = "task"
    CHALLENGE = "challenge"
    NOTIFICATION = "notification"
    PROFILE = "profile"


class SyncChange(models.Model):
    id = models.BigAutoField(primary_key=True)
    user_id = models.CharField(max_length=24)
    kind = models.CharField(max_length=16, choices=SyncKind.choices)
    object_id = models.CharField(max_length=24)
    deleted = models.BooleanField(default=False)
    xid = models.BigIntegerField()
    created_at = models.DateTimeField(db_default=models.Func(function="clock_timestamp"))

    class Meta:
        app_label = "integrations"
        indexes = [
            models.Index(fields=["user_id", "xid", "id"], name="sync_change_user_xid"),
            models.Index(fields=["created_at"], name="sync_change_created"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_id} {'deleted' if self.deleted else 'written'}"
