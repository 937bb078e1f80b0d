"""Turning provider items into tasks: a page is written in one transaction, as upserts on the
unique (connection, external id); unchanged items (same content hash) cost no write. Tasks are
created, changed and completed through `tasks.services`, never written here."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from datetime import time as dtime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from challenges.services import request_generation
from integrations.models import Connection, ImportedItem, SyncRun
from integrations.providers.base import Item
from tasks.services import complete_task, create_task, update_task

logger = logging.getLogger("integrations")


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    completed: int = 0
    deleted: int = 0
    skipped: int = 0
    new_tasks: list = field(default_factory=list)


def _wanted(conn: Connection, item: Item) -> bool:
    filters = conn.sync_filters or {}
    labels = {label.lower() for label in filters.get("labels") or []}
    if labels and not labels & {t.lower() for t in item.tags}:
        return False
    projects = set(filters.get("projects") or [])
    if projects and item.container and not ({item.container, item.source_id} & projects):
        return False
    statuses = set(filters.get("statuses") or [])
    return not (statuses and item.status not in statuses and item.status != "deleted")


LOCAL_STATUS = {"open": "pending", "in_progress": "in_progress", "completed": "completed", "cancelled": "cancelled"}


def _due(conn: Connection, item: Item) -> tuple[datetime | None, bool]:
    if item.due_date:
        return datetime.combine(item.due_date, dtime(23, 59, 59), tzinfo=conn.user.tzinfo), True
    return item.due_at, False


def _task_fields(conn: Connection, item: Item) -> dict:
    due, date_only = _due(conn, item)
    return {
        "title": item.title or "Untitled",
        "description": item.description,
        "due_date": due,
        "due_date_only": date_only,
        "tags": list(dict.fromkeys(t for t in item.tags if t))[:20],
        "source_url": item.url[:1000],
    }


def upsert_items(conn: Connection, run: SyncRun, items: list[Item]) -> Counts:
    """Write one page in one transaction: create what is new, update what changed (by content
    hash), complete through `complete_task`, mark deletions; unchanged items cost no write."""
    counts = Counts()
    if not items:
        return counts
    by_id: dict[str, Item] = {}
    for item in items:  # in-page dedupe: the last version wins
        by_id[item.external_id] = item
    with transaction.atomic():
        existing = {
            ii.external_id: ii
            for ii in ImportedItem.objects.select_related("task").filter(connection=conn, external_id__in=list(by_id))
        }
        to_create, to_update = [], []
        stamp = timezone.now()
        for external_id, item in by_id.items():
            digest = item.content_hash()
            ii = existing.get(external_id)
            if ii is not None and ii.content_hash == digest:
                counts.unchanged += 1
                continue
            if ii is None:
                if not _wanted(conn, item) or item.status == "deleted":
                    counts.skipped += 1
                    continue
                ii = ImportedItem(
                    connection=conn,
                    external_id=external_id,
                    source_id=item.source_id,
                    ref=item.ref,
                    url=item.url[:1000],
                )
                if item.status in ("completed", "cancelled"):
                    # Closed before we ever saw it: remembered, not turned into a task (no
                    # reward for history); it becomes a task if it is reopened upstream.
                    counts.skipped += 1
                else:
                    ii.task = _create_task(conn, item)
                    ii.task_created = True
                    counts.created += 1
                    counts.new_tasks.append(ii.task)
                _stamp_item(ii, item, digest, stamp)
                to_create.append(ii)
                continue
            _apply_change(conn, ii, item, counts)
            _stamp_item(ii, item, digest, stamp)
            to_update.append(ii)
        if to_create:
            ImportedItem.objects.bulk_create(to_create, batch_size=500)
        if to_update:
            ImportedItem.objects.bulk_update(
                to_update,
                [
                    "task",
                    "task_created",
                    "content_hash",
                    "upstream_status",
                    "upstream_updated_at",
                    "url",
                    "ref",
                    "source_id",
                    "deleted_upstream_at",
                    "last_seen_at",
                    "updated_at",
                ],
                batch_size=500,
            )
        if counts.new_tasks and conn.generate_challenges:
            _request_challenges(conn, counts.new_tasks)
    return counts


def _stamp_item(ii: ImportedItem, item: Item, digest: str, stamp: datetime) -> None:
    ii.content_hash = digest
    ii.upstream_status = item.status
    ii.upstream_updated_at = item.updated_at[:40]
    ii.url = item.url[:1000]
    ii.ref = item.ref[:500]
    ii.source_id = item.source_id[:255]
    ii.last_seen_at = stamp
    ii.updated_at = stamp
    if item.status != "deleted":
        ii.deleted_upstream_at = None


def _create_task(conn: Connection, item: Item):
    status = LOCAL_STATUS.get(item.status, "pending")
    return create_task(
        conn.user,
        understand=settings.INTEGRATIONS_UNDERSTAND_IMPORTS,
        type=conn.service,
        status=status,
        source=conn.service,
        source_id=item.external_id[:255],
        **_task_fields(conn, item),
    )


def _apply_change(conn: Connection, ii: ImportedItem, item: Item, counts: Counts) -> None:
    previous = ii.upstream_status
    task = ii.task
    if task is None:
        if item.status == "deleted":
            counts.deleted += int(ii.deleted_upstream_at is None)
            ii.deleted_upstream_at = ii.deleted_upstream_at or timezone.now()
        elif not ii.task_created and item.status in ("open", "in_progress") and _wanted(conn, item):
            ii.task = _create_task(conn, item)  # reopened upstream: now it is work to do
            ii.task_created = True
            counts.created += 1
            counts.new_tasks.append(ii.task)
        else:
            counts.updated += 1
        return
    if item.status == "deleted":
        counts.deleted += mark_deleted(conn, [ii], save=False)
        return
    fields = {name: value for name, value in _task_fields(conn, item).items() if getattr(task, name) != value}
    if fields:
        task, _ = update_task(conn.user, task, fields)
    if item.status != previous:
        if item.status == "completed":
            result = complete_task(conn.user, task, completed_at=item.completed_at, source=conn.service)
            task = result.task
            counts.completed += int(result.completed_now)
        elif item.status == "cancelled":
            if task.status not in ("completed", "cancelled"):
                task, _ = update_task(conn.user, task, {"status": "cancelled"})
        elif task.status in ("completed", "cancelled") or task.status != LOCAL_STATUS[item.status]:
            task, _ = update_task(conn.user, task, {"status": LOCAL_STATUS[item.status]})
    ii.task = task
    counts.updated += 1


def mark_deleted(conn: Connection, items: list[ImportedItem], *, save: bool = True) -> int:
    """Deleted (or no longer visible) upstream: keep the tombstone, cancel the open task."""
    marked = 0
    stamp = timezone.now()
    for ii in items:
        if ii.deleted_upstream_at is None:
            marked += 1
        ii.deleted_upstream_at = ii.deleted_upstream_at or stamp
        ii.upstream_status = "deleted"
        ii.content_hash = ""
        if ii.task is not None and ii.task.status not in ("completed", "cancelled"):
            ii.task, _ = update_task(conn.user, ii.task, {"status": "cancelled"})
        if save:
            ii.save(update_fields=["deleted_upstream_at", "upstream_status", "content_hash", "updated_at"])
    return marked


def mark_missing(conn: Connection, source_id: str, seen: set[str]) -> int:
    """After a complete listing: whatever we hold for this source and did not see is gone."""
    live = ImportedItem.objects.filter(connection=conn, source_id=source_id, deleted_upstream_at__isnull=True)
    missing_ids = [pk for pk, ext in live.values_list("pk", "external_id") if ext not in seen]
    if not missing_ids:
        return 0
    items = list(ImportedItem.objects.select_related("task").filter(pk__in=missing_ids))
    return mark_deleted(conn, items)


def _request_challenges(conn: Connection, new_tasks: list) -> None:
    for task in new_tasks:
        if task.status in ("pending", "in_progress"):
            try:
                request_generation(conn.user, task)
            except Exception:  # noqa: BLE001 - a challenge failing never fails the import
                logger.warning("challenge generation for imported task %s failed", task.pk, exc_info=True)
