"""Read-side queries other apps may use (CONVENTIONS.md: selectors)."""

from __future__ import annotations

from collections.abc import Callable

from django.utils import timezone

from accounts.models import FriendRequest, User
from accounts.serializers import UserSerializer
from kernel import wiring


def user_with_email(email: str) -> User | None:
    return User.objects.filter(email__iexact=email).first()


def active_user(user_id: str) -> User | None:
    return User.objects.filter(pk=user_id, is_active=True).first()


def search_users(user, query: str):
    """Active users whose name contains `query`, the searcher excluded, in a stable order. By
    name only: matching an exact email would tell whether an address has an account."""
    return User.objects.filter(is_active=True, name__icontains=query).exclude(pk=user.pk).order_by("name", "id")


# `GET /api/users/stats`: the figures of other apps' rows come from those apps, which register a
# function `user -> {name: count}` (accounts sits below them and cannot count their tables). The
# wire shape (API.md) names every figure, so one whose app contributes nothing reads 0.
STAT_NAMES = ("tasks_total", "tasks_completed", "challenges_total", "challenges_completed")
_stat_contributors: list[Callable[[User], dict[str, int]]] = []


def register_stats(contributor: Callable[[User], dict[str, int]]) -> None:
    if contributor not in _stat_contributors:
        _stat_contributors.append(contributor)
    wiring.record("user stats", wiring.describe(contributor), contributor)


def user_stats(user) -> dict:
    stats = {
        "friends_count": user.friends.count(),
        "account_age": (timezone.now() - user.created_at).days,
        **dict.fromkeys(STAT_NAMES, 0),
    }
    for contributor in _stat_contributors:
        stats.update(contributor(user))
    return stats


def friends_of(user):
    """The user's friends: accepted requests only (a pending or declined request is no link)."""
    return user.friends.all()


PENDING_REQUESTS_SHOWN = 100


def pending_friend_requests(user) -> dict[str, list[FriendRequest]]:
    """The user's open requests, received and sent, newest first, at most
    PENDING_REQUESTS_SHOWN of each (two queries, whatever the count)."""
    base = FriendRequest.objects.filter(status=FriendRequest.Status.PENDING).select_related("from_user", "to_user")
    return {
        "incoming": list(base.filter(to_user=user).order_by("-created_at")[:PENDING_REQUESTS_SHOWN]),
        "outgoing": list(base.filter(from_user=user).order_by("-created_at")[:PENDING_REQUESTS_SHOWN]),
    }



def profile_as_wire(user: User) -> dict:
    """The user's own profile in its API shape (`GET /api/users/me`), for another app whose
    answer embeds it (a sync's)."""
    return UserSerializer(user).data
