"""Domain events emitted by the challenges app (see deepiri.events)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from deepiri.events import Event

if TYPE_CHECKING:
    from accounts.models import User
    from challenges.models import Challenge


@dataclass(frozen=True, kw_only=True)
class ChallengeRequested(Event):
    """A challenge was created in `generating` (inside the requesting transaction). After commit
    a worker generates it (challenges.handlers queues the job)."""

    name: ClassVar[str] = "challenge.requested"
    user: User
    challenge: Challenge


@dataclass(frozen=True, kw_only=True)
class ChallengeGenerated(Event):
    """Inside the transaction that fills a generated challenge (generating -> pending), once per
    challenge. After-commit subscribers push `challenge-generated` to the user's socket."""

    name: ClassVar[str] = "challenge.generated"
    user: User
    challenge: Challenge


@dataclass(frozen=True, kw_only=True)
class ChallengeCompleted(Event):
    """Inside the completing transaction, exactly once per challenge; gamification has already
    paid for it. The challenge carries score and accuracy (0-100), completion_time (seconds,
    None when unknown), hints_used, points_reward and bonus_multiplier."""

    name: ClassVar[str] = "challenge.completed"
    user: User
    challenge: Challenge
