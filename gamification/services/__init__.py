"""Every gamification state change: the ledger, totals, streaks, badges, preferences, by concern:

    profiles.py     fetch/create and row-lock a profile, the user's local today, preferences
    ledger.py       `award()` / `reverse()`: the only way points and XP move
    streaks.py      stored streaks: set (emitting `streak.changed`), recompute, catch up
    badges.py       badge evaluation after recorded events, staff grants and revocations
    completions.py  the `record_*` entry points other apps call inside their transaction
    rebuild.py      recompute profiles from the ledger and the recorded activities

- `award()` is idempotent on `idempotency_key`, locks the user's profile row, writes one
  immutable ledger row and updates the totals and level in the same transaction, emits
  `points.awarded` (and `level.up` on a level gain), and queues the leaderboard update for
  commit. `reverse()` compensates an entry with a negative one.
- `record_task_completion()` / `record_task_reopen()` / `record_challenge_completion()` are
  called by the tasks and challenges services inside their transaction; they return `Effects`.
- Badges are evaluated after every recorded event (`evaluate_badges`; event-count badges only
  when that event may count toward them), each paid through the ledger; staff revoke with
  `revoke_badge` (points reversed).
- Stored streaks catch up with the calendar (`catch_up_streaks`) on the user's next award and in
  the hourly beat job; reads only compute them as of today (selectors), never store.

Formulas live in `gamification.rules`; nothing here computes a number by itself.

The `record_*` entry points and `award()` join the caller's transaction without a
savepoint (`atomic(savepoint=False)`): an error inside propagates and rolls the caller back,
so a savepoint would only cost two round trips per call.

Callers use this package's names (`services.award(...)`); reads live in `gamification.selectors`.
"""

from gamification.effects import Effects
from gamification.services.badges import badge_summary, evaluate_badges, grant_badge, revoke_badge
from gamification.services.completions import (
    record_challenge_completion,
    record_integration_sync,
    record_task_completion,
    record_task_reopen,
)
from gamification.services.ledger import award, reverse
from gamification.services.profiles import get_or_create_profile, update_preferences
from gamification.services.rebuild import rebuild_all, rebuild_user
from gamification.services.streaks import catch_up_all_streaks, catch_up_streaks

__all__ = [
    "Effects",
    "award",
    "badge_summary",
    "catch_up_all_streaks",
    "catch_up_streaks",
    "evaluate_badges",
    "get_or_create_profile",
    "grant_badge",
    "rebuild_all",
    "rebuild_user",
    "record_challenge_completion",
    "record_integration_sync",
    "record_task_completion",
    "record_task_reopen",
    "reverse",
    "revoke_badge",
    "update_preferences",
]
