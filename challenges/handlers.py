"""Challenges' reactions (registered in ChallengesConfig.ready()).

- A requested challenge's generation job is written to the outbox in the request's transaction
  and handed to a worker once it committed (with no broker, it is generated here by the
  fallback, so it never stays `generating`).
- A generated challenge is pushed to its owner's sockets and notified (after commit).
- A created task is understood (classified) by a worker after commit (its job queued through the
  outbox in the task's transaction), unless its creator said not to: the AI client lives here,
  so tasks does not need to know about it.
"""

from __future__ import annotations

import logging

from challenges import services
from challenges.events import ChallengeGenerated, ChallengeRequested
from deepiri import events
from notifications import services as notifications
from realtime import publisher
from tasks.events import TaskCreated

logger = logging.getLogger(__name__)


def on_challenge_requested(event: ChallengeRequested) -> None:
    """In the request's transaction: the generation job is queued with the challenge (the
    outbox), so a process dying after commit does not leave it generating."""
    from challenges.tasks import run_generation
    from deepiri import jobs

    challenge_id = event.challenge.pk

    def fallback():  # no broker: do not leave the challenge generating until it comes back
        services.run_generation(challenge_id, use_ai=False, reason="broker_unavailable")

    jobs.outbox(run_generation, [challenge_id], on_refused=fallback)


def on_challenge_generated(event: ChallengeGenerated) -> None:
    from challenges.serializers import challenge_to_dict

    user, challenge = event.user, event.challenge
    publisher.send_to_user_now(str(user.pk), "challenge-generated", {"challenge": challenge_to_dict(challenge)})
    notifications.notify(
        user,
        notifications.NotificationType.CHALLENGE_GENERATED,
        f"New challenge ready: {challenge.title}"[:200],
        "Your challenge is ready. Start it when you are.",
        data={
            "challenge_id": str(challenge.pk),
            "task_id": str(challenge.task_id) if challenge.task_id else None,
            "type": challenge.type or None,
            "difficulty": challenge.difficulty or None,
        },
        priority=notifications.Priority.MEDIUM,
        dedupe_key=f"challenge:{challenge.pk}",
    )


def on_task_created(event: TaskCreated) -> None:
    if not event.understand:
        return
    from challenges.tasks import understand_task
    from deepiri import jobs

    jobs.enqueue_on_commit(understand_task, event.task.pk)  # in the task's transaction (the outbox)


def register() -> None:
    # In the transaction: they write the job's outbox row, published after commit.
    events.subscribe(ChallengeRequested, on_challenge_requested)
    events.subscribe(ChallengeGenerated, on_challenge_generated, after_commit=True)
    events.subscribe(TaskCreated, on_task_created)
