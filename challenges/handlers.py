"""Challenges' wiring: its reactions to events and what it plugs into the registries below it
(`register()`, called from ChallengesConfig.ready()).

- A requested challenge is handed to a worker once the request committed (with no broker, it is
  generated here by the fallback, so it never stays `generating`).
- A generated challenge is pushed to its owner's sockets and notified (after commit).
- A created task is understood (classified) by a worker after commit, unless its creator said
  not to: the AI client lives here, so tasks does not need to know about it.
"""

from __future__ import annotations

import logging

import challenges.tasks  # noqa: F401  (its jobs are registered in every process: services queue them by name)
from challenges import admin, selectors, services
from challenges.events import ChallengeCompleted, ChallengeGenerated, ChallengeRequested
from challenges.sessions import services as sessions
from challenges.sessions import socket
from deepiri import admin as deepiri_admin
from deepiri import events, exports
from notifications import services as notifications
from realtime import publisher, registry
from tasks import admin as task_admin
from tasks import selectors as task_selectors
from tasks.events import TaskCreated

logger = logging.getLogger(__name__)


def on_challenge_requested(event: ChallengeRequested) -> None:
    from challenges.tasks import run_generation

    challenge_id = event.challenge.pk
    try:
        run_generation.delay(challenge_id)
    except Exception:  # no broker: do not leave the challenge generating forever
        logger.warning(
            "could not enqueue run_generation for %s; using the fallback inline", challenge_id, exc_info=True
        )
        services.run_generation(challenge_id, use_ai=False, reason="broker_unavailable")


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

    try:
        jobs.enqueue(understand_task, event.task.pk)  # a dead broker: kept in the outbox
    except Exception:  # inline (eager) understanding failing must not fail the request
        logger.warning("understand_task for %s failed", event.task.pk, exc_info=True)


def export_challenges(user) -> list[dict]:
    from challenges.serializers import challenge_to_dict

    return [challenge_to_dict(c) for c in user.challenges.select_related("task").order_by("created_at")]


def register() -> None:
    events.subscribe(ChallengeRequested, on_challenge_requested, after_commit=True)
    events.subscribe(ChallengeGenerated, on_challenge_generated, after_commit=True)
    events.subscribe(TaskCreated, on_task_created, after_commit=True)
    # A session is finished by the server-checked completion, never by a socket message.
    events.subscribe(ChallengeCompleted, sessions.on_challenge_completed, after_commit=True)

    exports.register("challenges", export_challenges)
    exports.register("challenge_sessions", sessions.export_user)

    registry.register_room(socket.CHALLENGE_ROOM)
    registry.register_room(socket.SESSION_ROOM)
    for message_type, handler in socket.COMMANDS.items():
        registry.register_command(message_type, handler)

    task_selectors.register_column(
        "challenge_id", selectors.latest_challenge_of_task(), contributor="challenges.selectors.latest_challenge_of_task"
    )
    task_admin.register_action(admin.generate_challenge)
    deepiri_admin.register_activity(admin.users_completing_challenges)
    deepiri_admin.register_figures(admin.challenges_today)
