"""Domain events emitted by the accounts app (see kernel.events)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from kernel.events import Event

if TYPE_CHECKING:
    from accounts.models import FriendRequest, PersonalAccessToken, User


@dataclass(frozen=True, kw_only=True)
class UserRegistered(Event):
    """A user signed up with email and password (inside the registering transaction)."""

    name: ClassVar[str] = "user.registered"
    user: User


@dataclass(frozen=True, kw_only=True)
class UserDeleted(Event):
    """The account and every row it owned are gone (cascade); data kept elsewhere (Redis,
    MongoDB) is cleaned up by after-commit subscribers."""

    name: ClassVar[str] = "user.deleted"
    user_id: str


@dataclass(frozen=True, kw_only=True)
class UserActivationChanged(Event):
    """A user was deactivated or reactivated (tokens of a deactivated user stop working)."""

    name: ClassVar[str] = "user.activation_changed"
    user: User
    active: bool


@dataclass(frozen=True, kw_only=True)
class FriendRequested(Event):
    """A user asked another to be friends (a pending request; the addressee answers it)."""

    name: ClassVar[str] = "friend.requested"
    request: FriendRequest


@dataclass(frozen=True, kw_only=True)
class PersonalAccessTokenExpiring(Event):
    """A personal access token expires within a week (once per token, inside the transaction
    that claims it: a subscriber that stores a notice stores it atomically with the claim)."""

    name: ClassVar[str] = "personal_token.expiring"
    token: PersonalAccessToken
    user: User
