"""Coalesced `leaderboard-update` pushes to the `leaderboard:<period>` rooms.

Scores change in bursts (a completion moves four boards; an import moves many users), while a
client only needs the board as it is now. So `changed(period, user_ids)` sends at once when no
update went out for that room in the last LEADERBOARD_MIN_INTERVAL, and otherwise makes sure
exactly one trailing update goes out when the interval is over, carrying every user changed in
between. The gate and the pending users are in Redis, so every worker and web process shares
them.

What the update says comes from the app that owns the boards: it registers a snapshot function
`(period, changed_user_ids) -> (top, changed)` with `register_snapshot`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from deepiri.redis import get_redis, key

from . import publisher

logger = logging.getLogger(__name__)

LEADERBOARD_MIN_INTERVAL = 0.5  # seconds: at most one leaderboard-update per room per half second

Snapshot = Callable[[str, list[str]], tuple[list[dict], list[dict]]]
_snapshot: Snapshot | None = None


def register_snapshot(snapshot: Snapshot) -> None:
    global _snapshot
    _snapshot = snapshot


def _pending_key(period: str) -> str:
    return key("rt", "lb", "changed", period)


def _gate_key(period: str) -> str:
    return key("rt", "lb", "gate", period)


def _trail_key(period: str) -> str:
    return key("rt", "lb", "trail", period)


# One round trip per change: remember the changed users, then take the gate (send now) or, if an
# update went out within the interval, take the trailing slot (send once the gate opens).
# Returns -1: send now; -2: a trailing update is already due; else the gate's remaining ms.
_CHANGED = """
local n = #ARGV
for i = 4, n, 1000 do
  redis.call('SADD', KEYS[1], unpack(ARGV, i, math.min(i + 999, n)))
end
if n >= 4 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
if redis.call('SET', KEYS[2], 1, 'NX', 'PX', ARGV[1]) then return -1 end
if redis.call('SET', KEYS[3], 1, 'NX', 'PX', ARGV[2]) then return redis.call('PTTL', KEYS[2]) end
return -2
"""


def changed(period: str, user_ids=()) -> None:
    """Coalesce: send at once if no update went out in the last half second, otherwise make
    sure exactly one trailing update goes out when the half second is over."""
    window_ms = int(LEADERBOARD_MIN_INTERVAL * 1000)
    keys = (_pending_key(period), _gate_key(period), _trail_key(period))
    outcome = get_redis().eval(_CHANGED, 3, *keys, window_ms, window_ms * 4, 60, *(str(u) for u in user_ids))
    if outcome == -1:
        flush(period)
    elif outcome != -2:
        delay = outcome / 1000 if outcome > 0 else 0.001
        timer = threading.Timer(delay, _trailing_flush, args=(period,))
        timer.daemon = True
        timer.start()


def _trailing_flush(period: str) -> None:
    r = get_redis()
    window_ms = int(LEADERBOARD_MIN_INTERVAL * 1000)
    try:
        for _ in range(50):
            if r.set(_gate_key(period), 1, nx=True, px=window_ms):
                break
            time.sleep(max(r.pttl(_gate_key(period)), 5) / 1000)
        r.delete(_trail_key(period))
        flush(period)
    except Exception:
        logger.exception("leaderboard trailing flush failed for %s", period)
    finally:
        from django.db import connection

        connection.close()  # the timer thread opened its own connection for the snapshot


def flush(period: str) -> bool:
    """Send one `leaderboard-update` for `period` with every user changed since the last one."""
    if _snapshot is None:
        return False
    r = get_redis()
    pipe = r.pipeline(transaction=True)
    pipe.smembers(_pending_key(period))
    pipe.delete(_pending_key(period))
    changed_ids, _ = pipe.execute()
    top, changed_rows = _snapshot(period, sorted(changed_ids))
    publisher.send_to_room_now(
        f"leaderboard:{period}", "leaderboard-update", {"period": period, "top": top, "changed": changed_rows}
    )
    return True
