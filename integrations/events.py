"""Domain events emitted by integrations (see kernel.events).

They carry the plain values their subscribers need, so an after-commit reaction never has to
re-read the connection or the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from kernel.events import Event

if TYPE_CHECKING:
    from accounts.models import User


@dataclass(frozen=True, kw_only=True)
class IntegrationSynced(Event):
    """A sync run finished (inside its final transaction). `provider` is the service slug
    (`github`, `google_docs`, ...), `trigger` what started it (manual, schedule, webhook,
    connect), and the counts are the tasks it created, updated, completed and removed."""

    name: ClassVar[str] = "integration.synced"
    user: User
    provider: str
    connection_id: str
    run_id: str
    trigger: str
    created: int = 0
    updated: int = 0
    completed: int = 0
    deleted: int = 0

    @classmethod
    def of(cls, user, connection, run) -> IntegrationSynced:
        return cls(
            user=user,
            provider=connection.service,
            connection_id=str(connection.pk),
            run_id=str(run.pk),
            trigger=run.trigger,
            created=run.created_count,
            updated=run.updated_count,
            completed=run.completed_count,
            deleted=run.deleted_count,
        )


@dataclass(frozen=True, kw_only=True)
class IntegrationFailed(Event):
    """A sync failed, or the grant died (`error` starts with "needs_reauth:"; `run_id` is None
    when no run was going). The connection's `status` says what to do."""

    name: ClassVar[str] = "integration.failed"
    user: User
    provider: str
    connection_id: str
    run_id: str | None
    error: str
