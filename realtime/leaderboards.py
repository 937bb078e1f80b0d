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

from django.db import close_old_connections, connections

from kernel import wiring
from kernel.redis import get_redis, key

from . import publisher
from .per_process import PerProcess

logger = logging.getLogger(__name__)

LEADERBOARD_MIN_INTERVAL = 0.5  # seconds: at most one leaderboard-update per room per half second

Snapshot = Callable[[str, list[str]], tuple[list[dict], list[dict]]]
_snapshot: Snapshot | None = None


def register_snapshot(snapshot: Snapshot) -> None:
    global _snapshot
    _snapshot = snapshot
    wiring.record("live leaderboard snapshot", "snapshot", snapshot)


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
        trailer().schedule(period, outcome / 1000 if outcome > 0 else 0.001)


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


IDLE_CLOSE_SECONDS = 1.0


class _Trailer:
    """Sends this process's trailing updates, each when its room's gate opens, from one thread.

    The thread keeps its database connection (for the snapshot's user names) while updates keep
    coming, under CONN_MAX_AGE and the health check like a request's, and closes it after
    IDLE_CLOSE_SECONDS without any. A timer thread per update opened and closed a PostgreSQL
    session every time: several a second per process under load.
    """

    def __init__(self):
        self.cond = threading.Condition()
        self.due: dict[str, float] = {}  # period -> monotonic time its update is due
        threading.Thread(target=self._run, name="leaderboard-trailer", daemon=True).start()

    def schedule(self, period: str, delay: float) -> None:
        at = time.monotonic() + delay
        with self.cond:
            if at < self.due.get(period, float("inf")):
                self.due[period] = at
            self.cond.notify()

    def _take_due(self) -> list[str] | None:
        """The periods now due, in time order; None once idle for IDLE_CLOSE_SECONDS."""
        with self.cond:
            while True:
                now = time.monotonic()
                ready = sorted((at, period) for period, at in self.due.items() if at <= now)
                if ready:
                    for _, period in ready:
                        del self.due[period]
                    return [period for _, period in ready]
                if self.due:
                    self.cond.wait(min(self.due.values()) - now)
                elif not self.cond.wait(IDLE_CLOSE_SECONDS) and not self.due:
                    return None

    def _run(self) -> None:
        while True:
            try:
                periods = self._take_due()
                if periods is None:
                    connections.close_all()  # idle: this thread's connection goes back
                    with self.cond:
                        self.cond.wait_for(lambda: self.due)
                    continue
                for period in periods:
                    close_old_connections()
                    _trailing_flush(period)
                close_old_connections()
            except Exception:  # the thread outlives any one failure; the next update retries
                logger.exception("leaderboard trailer: a pass failed")
                time.sleep(0.1)


_trailer = PerProcess(_Trailer)


def trailer() -> _Trailer:
    """This process's trailer, started on first use (again in a forked child)."""
    return _trailer.get()


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
