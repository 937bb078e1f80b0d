"""Subscribers of other apps' domain events (registered in GamificationConfig.ready()).

`task.completed`, `task.reopened` and `challenge.completed` run inside the emitter's
transaction and return the `effects` dict of API.md (snake_case; the renderer camelizes it).
"""

from __future__ import annotations

from gamification import leaderboards, services


def on_task_completed(name, user, task, completed_at, actual_duration=None, efficiency=None, **_):
    return services.record_task_completion(
        user, task, completed_at=completed_at, actual_duration=actual_duration, efficiency=efficiency
    )


def on_task_reopened(name, user, task, previous_completed_at=None, **_):
    return services.record_task_reopen(user, task, previous_completed_at=previous_completed_at)


def on_challenge_completed(name, user, challenge, **_):
    return services.record_challenge_completion(user, challenge)


def on_integration_synced(name, user, connection=None, run=None, **_):
    provider = getattr(connection, "service", None) or getattr(connection, "provider", None) or ""
    run_id = getattr(run, "pk", None) or getattr(run, "id", None)
    if run_id is None:
        return None
    created = getattr(run, "created_count", None)
    if created is None:
        created = getattr(run, "tasks_created", 0)
    created = created if isinstance(created, int) and not isinstance(created, bool) else 0
    services.record_integration_sync(user, run_id=str(run_id), provider=str(provider), tasks_created=created)
    return None


def on_leaderboard_changed(name, period, user_ids=(), **_):
    """Scores moved on a board: the sockets watching it get a coalesced update."""
    from realtime import leaderboards as live_boards

    live_boards.changed(period, user_ids)


def register_socket() -> None:
    """The `leaderboard:<period>` rooms (any signed-in user) and what their updates carry."""
    from gamification import selectors
    from realtime import leaderboards as live_boards
    from realtime import registry

    registry.register_room(
        registry.RoomKind(
            "leaderboard", may_join=lambda user_id, period: True, idents=leaderboards.PERIODS, ident_label="period"
        )
    )
    live_boards.register_snapshot(selectors.leaderboard_snapshot)


def on_user_deleted(name, user_id, **_):
    leaderboards.remove_user(str(user_id))


def export_user(user) -> dict:
    from gamification import selectors

    return selectors.export(user)
