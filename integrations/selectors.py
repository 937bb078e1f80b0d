"""Named reads of integrations, each scoped in one place: a user reaches only their own
connections and runs (another user's is simply not found)."""

from __future__ import annotations

from django.db.models import QuerySet

from integrations.models import Connection, ConnectionStatus, ImportedItem, SyncRun

# Connections whose data we still read and whose webhooks we still follow.
LIVE = (ConnectionStatus.CONNECTED, ConnectionStatus.SYNCING, ConnectionStatus.ERROR)


def connections_of(user) -> QuerySet[Connection]:
    return Connection.objects.filter(user=user).order_by("created_at", "id")


def connection_of(user, service: str) -> Connection | None:
    return Connection.objects.select_related("user").filter(user=user, service=service).first()


def statuses_of(user) -> dict[str, str]:
    """service -> status of each of the user's connections."""
    return dict(Connection.objects.filter(user=user).values_list("service", "status"))


def auto_sync_connections_of(user) -> QuerySet[Connection]:
    """What "sync all" covers: connected (or failed last time) with automatic sync on."""
    return (
        Connection.objects.select_related("user")
        .filter(user=user, auto_sync=True, status__in=[ConnectionStatus.CONNECTED, ConnectionStatus.ERROR])
        .order_by("created_at")
    )


def runs_of(connection: Connection) -> QuerySet[SyncRun]:
    return SyncRun.objects.filter(connection=connection).order_by("-started_at", "-id")


def tasks_imported_by(connection: Connection, run: SyncRun, *, limit: int = 100) -> list:
    """The tasks a run created (newest first), through the imported items' task link."""
    items = (
        ImportedItem.objects.select_related("task")
        .filter(connection=connection, task__isnull=False, created_at__gte=run.started_at)
        .order_by("-task__created_at")[:limit]
    )
    return [item.task for item in items]


def live_connection(connection_id: str) -> Connection | None:
    return Connection.objects.select_related("user").filter(pk=connection_id, status__in=LIVE).first()


def connections_with_webhooks() -> QuerySet[Connection]:
    return (
        Connection.objects.select_related("user")
        .filter(status__in=[ConnectionStatus.CONNECTED, ConnectionStatus.ERROR])
        .exclude(webhooks=[])
    )
