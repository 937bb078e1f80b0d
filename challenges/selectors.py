"""Named, scoped reads: another user's challenge is a 404 (never a 403 or a 500)."""

from __future__ import annotations

from django.db.models import Count, OuterRef, Q, Subquery
from django.http import Http404

from challenges.models import Challenge, ChallengeStatus
from challenges.serializers import challenge_to_dict
from kernel.ids import is_valid_id


def challenges_for_user(user):
    # the populated `taskId` comes from the join: one query per page, whatever its size
    return Challenge.objects.filter(user=user).select_related("task")


def get_challenge_for_user(user, challenge_id) -> Challenge:
    if not is_valid_id(challenge_id):
        raise Http404("Challenge not found.")
    challenge = challenges_for_user(user).filter(pk=challenge_id).first()
    if challenge is None:
        raise Http404("Challenge not found.")
    return challenge


def as_wire(challenge: Challenge) -> dict:
    """A challenge in its API shape (snake_case, as the renderer receives it), for another app
    that sends it elsewhere (a webhook's payload)."""
    return challenge_to_dict(challenge)


def latest_challenge_of_task() -> Subquery:
    """A task's `challengeId` is its latest challenge: the challenge points at its task, and the
    task list reads it through this subquery (still one query per page)."""
    return Subquery(Challenge.objects.filter(task=OuterRef("pk")).order_by("-created_at", "-id").values("pk")[:1])


def stats_of(user) -> dict[str, int]:
    """How many challenges the user has, and how many of them are completed (one query)."""
    counts = Challenge.objects.filter(user=user).aggregate(
        challenges_total=Count("pk"), challenges_completed=Count("pk", filter=Q(status=ChallengeStatus.COMPLETED))
    )
    return {name: counts[name] or 0 for name in ("challenges_total", "challenges_completed")}
