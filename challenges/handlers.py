"""Challenges' wiring: its reactions to other apps' events and what it plugs into the registries
below it (`register()`, called from ChallengesConfig.ready()).

A created task is understood (classified) by a worker: its job's outbox row is written in the
task's transaction and published once that commits, unless its creator said not to. The AI client
lives here, so tasks does not need to know about it. The app's own follow-ups (queueing a
generation, announcing a generated challenge, finishing a session) are direct calls in
challenges.services, not events.
"""

from __future__ import annotations

import logging

import challenges.tasks  # noqa: F401  (its jobs are registered in every process: services queue them by name)
from accounts import selectors as account_selectors
from challenges import admin, job_names, selectors
from challenges.serializers import challenge_to_dict
from challenges.sessions import services as sessions
from challenges.sessions import socket
from kernel import admin as deepiri_admin
from kernel import events, exports, jobs
from realtime import registry
from tasks import admin as task_admin
from tasks import selectors as task_selectors
from tasks.events import TaskCreated

logger = logging.getLogger(__name__)


def on_task_created(event: TaskCreated) -> None:
    """In the task's transaction: it writes the understanding job's outbox row (published after
    commit, swept if this process dies first)."""
    if not event.understand:
        return
    jobs.enqueue_on_commit(job_names.UNDERSTAND_TASK, event.task.pk)


def export_challenges(user) -> list[dict]:
    return [challenge_to_dict(c) for c in user.challenges.select_related("task").order_by("created_at")]


def register() -> None:
    # In the transaction: it writes the job's outbox row, published after commit.
    events.subscribe(TaskCreated, on_task_created)

    exports.register("challenges", export_challenges)
    account_selectors.register_stats(selectors.stats_of)
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
