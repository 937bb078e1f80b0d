"""Read-side queries other apps may use (CONVENTIONS.md: selectors)."""

from __future__ import annotations

from accounts.models import FriendRequest


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

