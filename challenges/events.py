"""Domain events emitted by the challenges app (see kernel.events)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from kernel.events import Event

if TYPE_CHECKING:
    from accounts.models import User
    from challenges.models import Challenge


@dataclass(frozen=True, kw_only=True)
class ChallengeGenerated(Event):
    """Inside the transaction that fills a generated challenge (generating -> pending), once per
    challenge. (The owner's socket push and notification are challenges' own, direct calls.)"""

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
