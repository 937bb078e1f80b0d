"""Domain events emitted by the gamification app (see deepiri.events).

points.awarded      (user, entry, points, xp, total_points)
    Inside the awarding transaction, once per new ledger row (a reversal too: negative
    `points`). `entry` is the LedgerEntry; a repeated idempotency key emits nothing.
level.up            (user, from_level, to_level)
    Inside the awarding transaction when an award raises the level; one event even when
    several levels are crossed at once (`to_level - from_level` may be > 1).
badge.awarded       (user, badge, user_badge)
    Inside the awarding transaction, once per (user, badge); its points are already in the
    ledger (`user_badge.ledger_entry`).
streak.changed      (user, daily{current, longest, last_date (ISO date | None), freezes},
                     weekly{current, longest}, previous{daily, weekly})
    Inside the transaction that moved a streak: a completion, a reopen, a freeze spent or a
    streak broken (on read or by the beat job).
leaderboard.changed (period, user_ids)
    After commit, once the Redis boards are updated: one event per period ("all", "day",
    "week", "month") per committed transaction, with every user whose score moved (coalesced).
"""

POINTS_AWARDED = "points.awarded"
LEVEL_UP = "level.up"
BADGE_AWARDED = "badge.awarded"
STREAK_CHANGED = "streak.changed"
LEADERBOARD_CHANGED = "leaderboard.changed"
