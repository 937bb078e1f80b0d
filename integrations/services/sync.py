"""Running a sync: one per connection at a time (a Redis `SET NX EX` lock), a recorded
`SyncRun`, the page loop per source with its checkpoint (an interrupted, rate-limited loop
resumes where it stopped) and its cursor (moved only after the whole loop committed), and the
beat's claim of due connections."""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from integrations.events import IntegrationFailed, IntegrationSynced
from integrations.models import AuthType, Connection, ConnectionStatus, ImportedItem, SyncRun
from integrations.providers import all_providers, get_provider
from integrations.providers.base import ApiClient, AuthError, ProviderError, RateLimited
from integrations.services import job_names, notices
from integrations.services.errors import NeedsReauth, NotConnected, SyncInProgress, SyncPaused
from integrations.services.tokens import client_for, mark_needs_reauth
from integrations.services.upsert import Counts, mark_deleted, mark_missing, upsert_items
from kernel import events, jobs, tracing
from kernel.api.times import iso_utc
from kernel.commit import after_commit
from kernel.redis import get_redis, key

logger = logging.getLogger("integrations")

SYNC_LOCK_TTL = 15 * 60
SEEN_TTL = 24 * 3600


class SyncLock:
    """`SET NX EX` with an owner token: one sync per connection at a time."""

    def __init__(self, connection_id: str):
        self.key = key("integrations", "sync", connection_id)
        self.token = uuid.uuid4().hex

    def acquire(self) -> bool:
        return bool(get_redis().set(self.key, self.token, nx=True, ex=SYNC_LOCK_TTL))

    def release(self) -> None:
        r = get_redis()
        if r.get(self.key) == self.token:
            r.delete(self.key)


def is_syncing(connection_id: str) -> bool:
    return bool(get_redis().exists(key("integrations", "sync", connection_id)))


def retry_delay(exc: RateLimited, retries: int) -> float:
    """The provider's own wait when it named one; Google's truncated exponential backoff else."""
    if exc.code == "backoff":
        return min(64.0, 2.0 ** (retries + 1)) + secrets.randbelow(1000) / 1000.0
    return exc.retry_after


def sync_connection(
    connection_id: str, *, trigger: str = SyncRun.Trigger.MANUAL, full: bool = False, refs: list[str] | None = None
) -> SyncRun | None:
    """Run (or resume) one sync of a connection. Returns the run, or None when the connection
    is not active. Raises SyncInProgress when another sync holds the lock, and RateLimited
    (with `.run_id` and the checkpoint stored) when the provider asked us to wait."""
    with tracing.span("integrations.sync", **{"integrations.connection_id": connection_id, "integrations.trigger": trigger}):
        return _sync_connection(connection_id, trigger=trigger, full=full, refs=refs)


def pause_reason(conn: Connection) -> str:
    """Why `conn` must not sync now ("" when it may): its provider is not configured on this
    server (no client id/secret), so its tokens cannot be used or refreshed, and the provider's
    real hosts must not be called. Connections made with a personal token need no client."""
    provider = get_provider(conn.service)
    if conn.auth_type != AuthType.TOKEN and not provider.configured:
        return f"{provider.name} is not configured on this server (no client id/secret): syncing is paused."
    return ""


def refresh_pauses() -> int:
    """Pause the connections whose provider is not configured, resume the others (after a
    deploy configured it). Returns how many connections changed."""
    changed = 0
    for provider in all_providers():
        of_provider = Connection.objects.filter(service=provider.slug)
        if provider.configured:
            changed += of_provider.exclude(paused_reason="").update(paused_reason="")
            continue
        changed += of_provider.exclude(auth_type=AuthType.TOKEN).filter(paused_reason="").update(
            paused_reason=f"{provider.name} is not configured on this server (no client id/secret): syncing is paused."
        )
        changed += of_provider.filter(auth_type=AuthType.TOKEN).exclude(paused_reason="").update(paused_reason="")
    return changed


def _sync_connection(connection_id: str, *, trigger: str, full: bool, refs: list[str] | None) -> SyncRun | None:
    conn = Connection.objects.select_related("user").filter(pk=connection_id).first()
    if conn is None or not conn.is_active or not conn.access_token_enc:
        return None
    reason = pause_reason(conn)
    if reason:
        Connection.objects.filter(pk=conn.pk).exclude(paused_reason=reason).update(paused_reason=reason)
        logger.info("sync of %s skipped: %s", conn.pk, reason)
        return None
    if conn.paused_reason:
        Connection.objects.filter(pk=conn.pk).update(paused_reason="")
    lock = SyncLock(conn.pk)
    if not lock.acquire():
        raise SyncInProgress("A sync of this integration is already running.")
    started = time.monotonic()
    run = None
    try:
        run = _open_run(conn, trigger=trigger, full=full, targeted=bool(refs))
        tracing.set_attributes(**{"integrations.service": conn.service, "integrations.run_id": run.pk})
        Connection.objects.filter(pk=conn.pk).update(status=ConnectionStatus.SYNCING)
        try:
            client = client_for(conn)
            if refs:
                _sync_refs(conn, run, client, refs)
            else:
                _sync_all(conn, run, client, full=run.full)
        except RateLimited as exc:
            _pause_run(conn, run, exc, started)
            exc.run_id = run.pk
            raise
        except NeedsReauth as exc:
            _fail_run(conn, run, exc, started, reauth=True)
            return run
        except AuthError as exc:  # still refused after a refresh: the grant is gone
            mark_needs_reauth(conn, f"the provider refused the token: {exc}")
            _fail_run(conn, run, exc, started, reauth=True)
            return run
        except ProviderError as exc:
            _fail_run(conn, run, exc, started)
            return run
        _finish_run(conn, run, started)
        return run
    finally:
        lock.release()


def _open_run(conn: Connection, *, trigger: str, full: bool, targeted: bool) -> SyncRun:
    checkpoint = conn.checkpoint or {}
    if not targeted and checkpoint.get("run_id"):
        run = SyncRun.objects.filter(pk=checkpoint["run_id"], connection=conn).first()
        if run is not None and run.status in (SyncRun.Status.RETRYING, SyncRun.Status.RUNNING):
            run.status = SyncRun.Status.RUNNING
            run.save(update_fields=["status", "updated_at"])
            return run
    return SyncRun.objects.create(
        connection=conn, user=conn.user, trigger=trigger, full=full, started_at=timezone.now()
    )


def _pause_run(conn: Connection, run: SyncRun, exc: RateLimited, started: float) -> None:
    wait = retry_delay(exc, run.retries)
    run.status = SyncRun.Status.RETRYING
    run.retries += 1
    run.errors = [
        *run.errors,
        {"code": exc.code, "message": str(exc)[:300], "retry_after": round(wait, 3), "at": iso_utc(timezone.now())},
    ][-20:]
    run.duration_ms = (run.duration_ms or 0) + int((time.monotonic() - started) * 1000)
    run.save()
    Connection.objects.filter(pk=conn.pk).update(
        status=ConnectionStatus.CONNECTED,
        next_sync_at=timezone.now() + timedelta(seconds=wait),
        updated_at=timezone.now(),
    )
    logger.info("sync of %s paused by a rate limit; resuming in %.1fs", conn.pk, wait)


def _fail_run(conn: Connection, run: SyncRun, exc: ProviderError, started: float, *, reauth: bool = False) -> None:
    message = f"{exc.code}: {exc}"[:1000]
    with transaction.atomic():
        run.status = SyncRun.Status.FAILED
        run.error = message
        run.error_class = exc.failure_class[:40]
        run.finished_at = timezone.now()
        run.duration_ms = (run.duration_ms or 0) + int((time.monotonic() - started) * 1000)
        run.save()
        values = {
            "last_sync_at": timezone.now(),
            "last_sync_success": False,
            "last_error": message,
            "checkpoint": {},
            "updated_at": timezone.now(),
        }
        if not reauth:
            values.update(
                status=ConnectionStatus.ERROR, next_sync_at=timezone.now() + timedelta(seconds=conn.sync_interval)
            )
        Connection.objects.filter(pk=conn.pk).update(**values)
        if reauth:
            conn.status = ConnectionStatus.NEEDS_REAUTH
            message = f"needs_reauth: reconnect {get_provider(conn.service).name} ({exc})"[:1000]
            run.error = message
            run.save(update_fields=["error", "updated_at"])
        failed = IntegrationFailed(
            user=conn.user, provider=conn.service, connection_id=str(conn.pk), run_id=str(run.pk), error=message
        )
        events.emit(failed)
        after_commit(notices.notify_failed, failed)
    logger.warning("sync of %s (%s) failed: %s", conn.pk, conn.service, message)


def _finish_run(conn: Connection, run: SyncRun, started: float) -> None:
    with transaction.atomic():
        run.status = (
            SyncRun.Status.PARTIAL
            if run.errors and any(e.get("code") == "item" for e in run.errors)
            else SyncRun.Status.SUCCEEDED
        )
        run.finished_at = timezone.now()
        run.duration_ms = (run.duration_ms or 0) + int((time.monotonic() - started) * 1000)
        run.save()
        fresh = Connection.objects.select_for_update().get(pk=conn.pk)
        if fresh.status == ConnectionStatus.SYNCING:
            fresh.status = ConnectionStatus.CONNECTED
        fresh.last_sync_at = timezone.now()
        fresh.next_sync_at = timezone.now() + timedelta(seconds=fresh.sync_interval)
        fresh.last_sync_success = True
        fresh.last_error = ""
        fresh.total_items_synced += run.created_count + run.updated_count
        if fresh.checkpoint.get("run_id") == run.pk:
            fresh.checkpoint = {}
        fresh.save()
        synced = IntegrationSynced.of(conn.user, fresh, run)
        events.emit(synced)
        after_commit(notices.sync_finished, synced)


def _reconcile_due(cursor: dict) -> bool:
    full_at = cursor.get("full_at")
    if not full_at:
        return True
    return time.time() - float(full_at) >= settings.INTEGRATIONS_RECONCILE_SECONDS


def _sync_all(conn: Connection, run: SyncRun, client: ApiClient, *, full: bool) -> None:
    provider = get_provider(conn.service)
    checkpoint = conn.checkpoint if conn.checkpoint.get("run_id") == run.pk else {"run_id": run.pk, "done": []}
    if conn.checkpoint != checkpoint:  # a rate limit from here on resumes this same run
        Connection.objects.filter(pk=conn.pk).update(checkpoint=checkpoint)
        conn.checkpoint = checkpoint
    sources = provider.list_sources(client, conn.sync_filters or {})
    Connection.objects.filter(pk=conn.pk).update(sources=[s.as_dict() for s in sources])
    r = get_redis()
    for source in sources:
        if source.id in checkpoint.get("done", []):
            continue
        cursor = dict(conn.cursors.get(source.id) or {})
        resume, pending, src_full = None, None, full or not cursor.get("watermark") or _reconcile_due(cursor)
        if checkpoint.get("source") == source.id:
            resume, pending, src_full = (
                checkpoint.get("resume"),
                checkpoint.get("watermark"),
                checkpoint.get("full", src_full),
            )
        seen_key = key("integrations", "seen", run.pk, source.id)
        listed_all, extra = False, {}
        for page in provider.iter_pages(client, source, cursor=cursor, resume=resume, full=src_full):
            # a span per page: storing it; the page's own HTTP call is a sibling (made by the
            # provider's iterator before the page is handed over)
            with tracing.span("integrations.sync.page", **{"integrations.source": source.id,
                                                           "integrations.items": len(page.items)}):
                run.pages += 1
                extra.update(page.extra)
                if not page.skipped:
                    counts = upsert_items(conn, run, page.items)
                    _add_counts(run, counts, len(page.items))
                    if page.complete_listing:
                        listed_all = True
                        if page.items:
                            r.sadd(seen_key, *[i.external_id for i in page.items])
                            r.expire(seen_key, SEEN_TTL)
                    pending = provider.merge_watermark(pending, page.watermark)
                if page.resume:
                    checkpoint = {
                        **checkpoint,
                        "source": source.id,
                        "resume": page.resume,
                        "watermark": pending,
                        "full": src_full,
                    }
                    Connection.objects.filter(pk=conn.pk).update(checkpoint=checkpoint)
                    conn.checkpoint = checkpoint
                run.save(update_fields=_RUN_COUNTERS)
        # The whole loop of this source committed: now (and only now) move its cursor.
        with transaction.atomic():
            if listed_all:
                run.deleted_count += mark_missing(conn, source.id, r.smembers(seen_key))
            cursor.update(extra)
            cursor["watermark"] = provider.merge_watermark(cursor.get("watermark"), pending)
            if src_full and listed_all:
                cursor["full_at"] = time.time()
            locked = Connection.objects.select_for_update().only("cursors", "checkpoint").get(pk=conn.pk)
            checkpoint = {"run_id": run.pk, "done": [*checkpoint.get("done", []), source.id]}
            locked.cursors = {**locked.cursors, source.id: cursor}
            Connection.objects.filter(pk=conn.pk).update(cursors=locked.cursors, checkpoint=checkpoint)
            conn.cursors, conn.checkpoint = locked.cursors, checkpoint
            run.save(update_fields=_RUN_COUNTERS)
        r.delete(seen_key)


_RUN_COUNTERS = [
    "pages",
    "items_seen",
    "created_count",
    "updated_count",
    "unchanged_count",
    "completed_count",
    "deleted_count",
    "skipped_count",
    "errors",
    "updated_at",
]


def _add_counts(run: SyncRun, counts: Counts, seen: int) -> None:
    run.items_seen += seen
    run.created_count += counts.created
    run.updated_count += counts.updated
    run.unchanged_count += counts.unchanged
    run.completed_count += counts.completed
    run.deleted_count += counts.deleted
    run.skipped_count += counts.skipped


def _sync_refs(conn: Connection, run: SyncRun, client: ApiClient, refs: list[str]) -> None:
    provider = get_provider(conn.service)
    for ref in dict.fromkeys(refs):
        item = provider.fetch_item(client, ref)
        run.pages += 1
        if item is None:
            with transaction.atomic():
                gone = list(
                    ImportedItem.objects.select_related("task").filter(
                        connection=conn, ref=ref, deleted_upstream_at__isnull=True
                    )
                )
                run.deleted_count += mark_deleted(conn, gone)
            run.items_seen += 1
        else:
            _add_counts(run, upsert_items(conn, run, [item]), 1)
        run.save(update_fields=_RUN_COUNTERS)


@dataclass(frozen=True)
class SyncRequested:
    """What asking for a sync did: ran it here (`run`), queued it (`job_id`), or ran until the
    provider's rate limit paused it (`run`, `paused`: the next attempt resumes it)."""

    run: SyncRun | None = None
    job_id: str | None = None
    paused: bool = False


def request_sync(conn: Connection, *, full: bool, trigger: str) -> SyncRequested:
    """A user asked for a sync: inline when Celery runs eagerly (no broker), else queued."""
    reason = pause_reason(conn)
    if reason:
        raise SyncPaused(reason)
    if not jobs.runs_inline():
        # published now, not kept for later: the user is told the sync is queued, or a 503
        job = jobs.publish(job_names.SYNC_CONNECTION, [conn.pk], {"trigger": trigger, "full": full})
        return SyncRequested(job_id=job.id)
    try:
        run = sync_connection(conn.pk, trigger=trigger, full=full)
    except RateLimited as exc:
        return SyncRequested(run=SyncRun.objects.filter(pk=getattr(exc, "run_id", None)).first(), paused=True)
    if run is None:
        raise NotConnected("This integration is not connected.")
    return SyncRequested(run=run)


def claim_due_connections(limit: int = 500) -> list[str]:
    """Connections whose automatic sync is due; each is claimed (its next time moved) once,
    so overlapping beat ticks never enqueue the same connection twice."""
    current = timezone.now()
    refresh_pauses()
    due = (
        Connection.objects.filter(auto_sync=True, status__in=[ConnectionStatus.CONNECTED, ConnectionStatus.ERROR])
        .filter(paused_reason="")
        .filter(Q(next_sync_at__lte=current) | Q(next_sync_at__isnull=True))
        .values_list("pk", "next_sync_at", "sync_interval")[:limit]
    )
    claimed = []
    for pk, next_at, interval in due:
        # Hold the slot for the lock TTL: a finished (or paused) run sets the real next time.
        hold = current + timedelta(seconds=max(interval, SYNC_LOCK_TTL))
        qs = Connection.objects.filter(pk=pk)
        qs = qs.filter(next_sync_at=next_at) if next_at else qs.filter(next_sync_at__isnull=True)
        if qs.update(next_sync_at=hold):
            claimed.append(pk)
    return claimed
