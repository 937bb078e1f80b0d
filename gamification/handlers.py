"""Gamification's wiring: its reactions to events and what it plugs into the registries below it
(`register()`, called from GamificationConfig.ready()).

A new account gets its profile and a deleted one leaves the boards (after commit). Gamification's own follow-ups
(telling the user of a badge or a level, live leaderboard updates) are direct calls after commit
(gamification.notices, gamification.leaderboards), not events to itself.
"""

from __future__ import annotations

import gamification.tasks  # noqa: F401  (its jobs are registered in every process: leaderboards queue the rebuild by name)
from accounts import admin as user_admin
from accounts.events import UserDeleted, UserRegistered
from gamification import admin, leaderboards, selectors, services
from kernel import events, exports
from realtime import leaderboards as live_boards
from realtime import registry


def on_user_registered(event: UserRegistered) -> None:
    """A new account gets its profile now, so that reading it never has to create it."""
    services.get_or_create_profile(event.user)


def on_user_deleted(event: UserDeleted) -> None:
    leaderboards.remove_user(str(event.user_id))


def any_signed_in_user(user_id: str, period: str) -> bool:
    return True


def register() -> None:
    events.subscribe(UserRegistered, on_user_registered, after_commit=True)
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
    user_admin.register_user_tool("award-badge", "Award a badge…", admin.award_badge_to_user)
