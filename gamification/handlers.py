"""Gamification's wiring: its reactions to events and what it plugs into the registries below it
(`register()`, called from GamificationConfig.ready()).

Its own events become notifications (deciding to tell the user about a badge or a level is
gamification's; notifications stores and delivers) and live leaderboard updates; accounts'
deletion takes the user off the boards. All run after commit: a rolled-back award tells no one.
"""

from __future__ import annotations

import gamification.tasks  # noqa: F401  (its jobs are registered in every process: leaderboards queue the rebuild by name)
from accounts import admin as user_admin
from accounts.events import UserDeleted
from deepiri import events, exports
from gamification import admin, leaderboards, selectors
from gamification.events import BadgeAwarded, LeaderboardChanged, LevelUp
from notifications import services as notifications
from realtime import leaderboards as live_boards
from realtime import registry


def on_badge_awarded(event: BadgeAwarded) -> None:
    badge = event.badge
    notifications.notify(
        event.user,
        notifications.NotificationType.BADGE_EARNED,
        f"Badge earned: {badge.name}",
        badge.description or f"You earned the {badge.name} badge.",
        data={"badge_id": str(badge.pk), "slug": badge.slug, "icon": badge.icon, "rarity": badge.rarity},
        priority=notifications.Priority.MEDIUM,
        dedupe_key=f"badge:{badge.pk}",
    )


def on_level_up(event: LevelUp) -> None:
    notifications.notify(
        event.user,
        notifications.NotificationType.LEVEL_UP,
        f"Level up! You reached level {event.to_level}",
        f"You went from level {event.from_level} to level {event.to_level}. Keep going!",
        data={"from": event.from_level, "to": event.to_level},
        priority=notifications.Priority.HIGH,
        dedupe_key=f"level:{event.to_level}",
    )


def on_leaderboard_changed(event: LeaderboardChanged) -> None:
    """Scores moved on a board: the sockets watching it get a coalesced update."""
    live_boards.changed(event.period, event.user_ids)


def on_user_deleted(event: UserDeleted) -> None:
    leaderboards.remove_user(str(event.user_id))


def any_signed_in_user(user_id: str, period: str) -> bool:
    return True


def register() -> None:
    events.subscribe(BadgeAwarded, on_badge_awarded, after_commit=True)
    events.subscribe(LevelUp, on_level_up, after_commit=True)
    events.subscribe(LeaderboardChanged, on_leaderboard_changed, after_commit=True)
    events.subscribe(UserDeleted, on_user_deleted, after_commit=True)
    # The `leaderboard:<period>` rooms (any signed-in user) and what their live updates carry.
    registry.register_room(
        registry.RoomKind(
            "leaderboard", may_join=any_signed_in_user, idents=leaderboards.PERIODS, ident_label="period"
        )
    )
    live_boards.register_snapshot(selectors.leaderboard_snapshot)

    exports.register("gamification", selectors.export)
    user_admin.register_user_panel(
        "gamification_summary", "gamification", admin.gamification_summary_html, section="Gamification"
    )
    user_admin.register_user_panel("recent_ledger", "recent ledger rows", admin.recent_ledger_html, section="Gamification")
    user_admin.register_user_inline(admin.UserBadgeInline)
    user_admin.register_user_action(admin.recompute_gamification)
    user_admin.register_user_action(admin.adjust_points)
