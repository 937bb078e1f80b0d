"""Domain events emitted by the notifications app (see kernel.events)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from kernel.events import Event

if TYPE_CHECKING:
    from accounts.models import User
    from notifications.models import Notification


@dataclass(frozen=True, kw_only=True)
class NotificationCreated(Event):
    """A notification was stored (inside the storing transaction; the socket push follows on
    commit)."""

    name: ClassVar[str] = "notification.created"
    user: User
    notification: Notification
