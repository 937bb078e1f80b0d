"""Leaderboards in Redis sorted sets, one per period: `all`, and the UTC `day`, ISO `week` and
`month` that an award falls in (periodic keys expire an hour after their period ends).

Each period has two sets: `full` (everyone with points in the period: the caller's own score and
rank come from it) and `pub` (only users whose `showLeaderboard` is on: what others see; the
hidden users are a Redis set checked inside Redis on every write). Members are user ids, scores
the period's points; a member whose score drops to 0 is removed.

- Writes: `queue(user_id, points, occurred_at)` after an award or a reversal; when the
  transaction commits, everything it queued goes to Redis in one MULTI pipeline, and the live
  boards (realtime.leaderboards) are told once per period touched (coalesced per commit).
- Reads: `top_and_rank()` gets the top N and the caller's score and rank in one round trip
  (a Lua script), whatever the number of members.
- `rebuild()` recomputes every current board from the ledger and reports drift.
- Self-healing: a rebuild leaves a generation marker in Redis. A read that finds no marker
  (Redis restarted empty, or was flushed) starts one rebuild in the background (a Redis lock
  makes it one) and the reader gets `BoardsRebuilding` (503 `rebuild_in_progress`) until it
  is done; with eager Celery (no worker) the rebuild runs inline and the read goes on.
"""

from __future__ import annotations

import logging
import weakref
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Sum
from django.utils import timezone

from gamification import job_names
from gamification.models import GamificationProfile, LedgerEntry
from kernel import jobs
from kernel.commit import after_commit
from kernel.redis import get_redis, key
from realtime import leaderboards as live_boards

logger = logging.getLogger(__name__)

PERIODS = ("all", "day", "week", "month")
GRACE = timedelta(hours=1)


# ------------------------------------------------------------------------------------------------
# Periods (UTC)
# ------------------------------------------------------------------------------------------------
def period_bounds(period: str, instant: datetime) -> tuple[str, datetime | None, datetime | None]:
    """(period id, start, end) of the period holding `instant`; `all` has no bounds."""
    t = instant.astimezone(UTC)
    if period == "all":
        return "all", None, None
    if period == "day":
        start = t.replace(hour=0, minute=0, second=0, microsecond=0)
        return f"day:{start:%Y-%m-%d}", start, start + timedelta(days=1)
    if period == "week":
        day = t.replace(hour=0, minute=0, second=0, microsecond=0)
        start = day - timedelta(days=day.weekday())
        year, week, _ = start.isocalendar()
        return f"week:{year:04d}-W{week:02d}", start, start + timedelta(days=7)
    if period == "month":
        start = t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
        return f"month:{start:%Y-%m}", start, end
    raise ValueError(f"unknown period {period!r}")


def board_key(period_id: str, audience: str) -> str:
    return key("lb", period_id, audience)


def current_keys(now: datetime | None = None) -> dict[str, tuple[str, datetime | None]]:
    now = now or timezone.now()
    out = {}
    for period in PERIODS:
        period_id, _start, end = period_bounds(period, now)
        out[period] = (period_id, end)
    return out


# ------------------------------------------------------------------------------------------------
# Writes
# ------------------------------------------------------------------------------------------------
def generation_key() -> str:
    """Set by every full rebuild: its absence means Redis lost the boards (not under `lb:`, so
    scans of the boards never meet it)."""
    return key("lbmeta", "generation")


def rebuilding_key() -> str:
    return key("lbmeta", "rebuilding")


REBUILD_LOCK_SECONDS = 120


class BoardsRebuilding(Exception):
    """The boards are being rebuilt from the ledger; ask again in a moment."""


def hidden_key() -> str:
    """The set of users with `showLeaderboard: false` (mirrors the profiles; kept in step by
    `set_visibility` and checked by `rebuild`)."""
    return key("lb", "hidden")


def counted_key() -> str:
    """The fence: ledger entries already on the boards (sorted set, scored by when they were
    counted), so that no entry is counted twice, by its own pipeline and by a rebuild."""
    return key("lbmeta", "counted")


# How long an entry stays in the fence: far longer than an award's after-commit pipeline takes
# to follow its commit, which is the only time it can race a rebuild.
FENCE_SECONDS = 600

# One ledger entry onto the boards, once. KEYS: the fence, the hidden set, ARGV[6] full boards,
# then the public boards. ARGV: points, user, entry id ('' = unfenced), now, -, number of full
# boards. The public boards are skipped for a hidden member, checked inside Redis, so a score
# change and a visibility change can never interleave into a hidden user on a public board.
_APPLY = """
if ARGV[3] ~= '' and redis.call('ZADD', KEYS[1], 'NX', ARGV[4], ARGV[3]) == 0 then return 0 end
local nfull = tonumber(ARGV[6])
for i = 3, 2 + nfull do redis.call('ZINCRBY', KEYS[i], ARGV[1], ARGV[2]) end
if redis.call('SISMEMBER', KEYS[2], ARGV[2]) == 1 then return 1 end
for i = 3 + nfull, #KEYS do redis.call('ZINCRBY', KEYS[i], ARGV[1], ARGV[2]) end
return 1
"""

# Hide (ARGV[2] == '0') or show a member: KEYS = hidden, then (full, pub) pairs; ARGV[3..] the
# expiry of each pair (0: none). Showing copies the member's score from each full board.
_SET_VISIBILITY = """
local uid = ARGV[1]
if ARGV[2] == '0' then
  redis.call('SADD', KEYS[1], uid)
  for i = 2, #KEYS, 2 do redis.call('ZREM', KEYS[i + 1], uid) end
  return 0
end
redis.call('SREM', KEYS[1], uid)
for i = 2, #KEYS, 2 do
  local score = redis.call('ZSCORE', KEYS[i], uid)
  if score and tonumber(score) > 0 then
    redis.call('ZADD', KEYS[i + 1], score, uid)
    local expires = tonumber(ARGV[3 + (i - 2) / 2])
    if expires > 0 then redis.call('EXPIREAT', KEYS[i + 1], expires) end
  end
end
return 1
"""


@dataclass
class _Batch:
    """Everything one transaction (at one savepoint level) changed, applied on commit."""

    deltas: list = field(default_factory=list)
    done: bool = False

    def __post_init__(self):
        self.__qualname__ = "leaderboards.apply"  # Django names a failing on_commit callback by it

    def __call__(self):
        self.done = True  # a delta queued from here on (another commit) gets a batch of its own
        apply(self.deltas)


# The batch of each open transaction and savepoint level, by (connection, savepoint ids). Held
# weakly: the only strong reference is Django's own list of on_commit callbacks, so a batch
# disappears from here the moment Django runs it (commit) or drops it (the transaction or its
# savepoint rolled back), and a later transaction at the same level never appends to a batch that
# will not run. Only public API is used: `transaction.on_commit`, `in_atomic_block` and
# `savepoint_ids` (the ids of the open savepoints, which Django also keys its callbacks on).
_open_batches: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def queue(user_id: str, points: int, occurred_at: datetime, entry_id: str | None = None) -> None:
    """Queue a score change for when the current transaction commits (now, outside one).

    Deltas of one transaction share one batch, so one commit makes one pipeline and one live
    update per period. A batch is only shared at the savepoint level it was
    registered at, so a rolled-back savepoint takes its own deltas with it (Django drops the
    on_commit callbacks registered inside it). `entry_id`, the ledger entry, fences the change:
    it reaches the boards once, whether a rebuild that read it or this pipeline comes first."""
    if not points:
        return
    delta = (user_id, int(points), occurred_at, entry_id)
    db = connections[DEFAULT_DB_ALIAS]
    if not db.in_atomic_block:
        transaction.on_commit(_Batch([delta]), robust=True)  # runs now, a failure logged as in a commit
        return
    level = (id(db), tuple(db.savepoint_ids))
    batch = _open_batches.get(level)
    if batch is not None and not batch.done:
        batch.deltas.append(delta)
        return
    batch = _Batch([delta])
    transaction.on_commit(batch, robust=True)
    _open_batches[level] = batch


def apply(deltas, now: datetime | None = None) -> dict[str, set]:
    """Apply score deltas [(user_id, points, occurred_at[, ledger entry id])] in one MULTI
    pipeline; a fenced delta whose entry is already counted changes nothing."""
    now = now or timezone.now()
    pipe = get_redis().pipeline(transaction=True)
    hidden, fence = hidden_key(), counted_key()
    touched: dict[str, datetime | None] = {}
    changed: dict[str, set] = defaultdict(set)
    for user_id, points, occurred_at, *rest in deltas:
        entry_id = rest[0] if rest else None
        fulls, pubs = [], []
        for period in PERIODS:
            period_id, _start, end = period_bounds(period, occurred_at)
            if end is not None and end + GRACE <= now:
                continue  # a reversal of an award whose period is over: that board is gone
            full, pub = board_key(period_id, "full"), board_key(period_id, "pub")
            fulls.append(full)
            pubs.append(pub)
            touched[full] = touched[pub] = end
            changed[period].add(user_id)
        if fulls:
            pipe.eval(_APPLY, 2 + len(fulls) + len(pubs), fence, hidden, *fulls, *pubs,
                      points, user_id, entry_id or "", now.timestamp(), "", len(fulls))
    if not touched:
        return {}
    pipe.zremrangebyscore(fence, "-inf", now.timestamp() - FENCE_SECONDS)
    for k, end in touched.items():
        pipe.zremrangebyscore(k, "-inf", 0)
        if end is not None:
            pipe.expireat(k, end + GRACE)
    pipe.execute()
    for period, user_ids in changed.items():
        # The sockets watching a board get a coalesced `leaderboard-update` (realtime throttles
        # it), once the scores are committed.
        after_commit(live_boards.changed, period, tuple(sorted(user_ids)))
    return changed


def set_visibility(user_id: str, visible: bool, now: datetime | None = None) -> None:
    """Show or hide a user on the boards others read (their own rank keeps working), atomically
    in Redis (one script)."""
    keys, expiries = [hidden_key()], []
    for period_id, end in current_keys(now).values():
        keys += [board_key(period_id, "full"), board_key(period_id, "pub")]
        expiries.append(int((end + GRACE).timestamp()) if end is not None else 0)
    get_redis().eval(_SET_VISIBILITY, len(keys), *keys, user_id, "1" if visible else "0", *expiries)


def remove_user(user_id: str) -> int:
    """Take a user off every board (account deleted)."""
    r = get_redis()
    pipe = r.pipeline(transaction=False)
    for k in r.scan_iter(match=key("lb", "*"), count=500):
        if k == hidden_key():
            pipe.srem(k, user_id)
        else:
            pipe.zrem(k, user_id)
    return sum(int(n or 0) for n in pipe.execute())


# ------------------------------------------------------------------------------------------------
# Reads
# ------------------------------------------------------------------------------------------------
_TOP_AND_RANK = """
local n = tonumber(ARGV[1])
local skip = tonumber(ARGV[3] or '0')
local top = {}
if n > 0 then top = redis.call('ZREVRANGE', KEYS[1], skip, skip + n - 1, 'WITHSCORES') end
local first_above = 0
if skip > 0 and #top > 0 then first_above = redis.call('ZCOUNT', KEYS[1], '(' .. top[2], '+inf') end
local score = redis.call('ZSCORE', KEYS[2], ARGV[2])
local above = false
if score then above = redis.call('ZCOUNT', KEYS[1], '(' .. score, '+inf') end
return {top, score, above, redis.call('EXISTS', KEYS[3]), redis.call('ZCARD', KEYS[1]), first_above}
"""
_script_cache: dict[int, object] = {}


def _script():
    r = get_redis()
    script = _script_cache.get(id(r))
    if script is None:
        script = _script_cache[id(r)] = r.register_script(_TOP_AND_RANK)
    return script


@dataclass
class BoardRead:
    top: list[tuple[str, int, int]]  # (user_id, points, rank)
    my_points: int
    my_rank: int | None
    built: bool = True  # False: Redis lost the boards and nobody rebuilt them yet
    total: int = 0  # visible members on the board


def top_and_rank(period: str, user_id: str, limit: int, now: datetime | None = None, skip: int = 0) -> BoardRead:
    """`limit` visible members from position `skip`, the board's size and the caller's points and
    rank, in one round trip.

    Ranks are competition ranks over the visible board: 1 + the number of visible members with
    strictly more points (ties share a rank, as in the original), also across a page boundary."""
    period_id, _start, _end = period_bounds(period, now or timezone.now())
    raw_top, my_score, above, built, total, first_above = _script()(
        keys=[board_key(period_id, "pub"), board_key(period_id, "full"), generation_key()], args=[limit, user_id, skip]
    )
    built = bool(int(built))
    top: list[tuple[str, int, int]] = []
    previous_score, previous_rank = None, int(first_above)
    for index in range(0, len(raw_top), 2):
        member, points = raw_top[index], int(float(raw_top[index + 1]))
        if index == 0 and skip:
            rank = int(first_above) + 1
        else:
            rank = previous_rank if points == previous_score else skip + index // 2 + 1
        top.append((member, points, rank))
        previous_score, previous_rank = points, rank
    total = int(total)
    if my_score is None:
        return BoardRead(top=top, my_points=0, my_rank=None, built=built, total=total)
    return BoardRead(top=top, my_points=int(float(my_score)), my_rank=int(above) + 1, built=built, total=total)


def read_fresh(period: str, user_id: str, limit: int, skip: int = 0) -> BoardRead:
    """`top_and_rank`, healing first when Redis lost the boards: starts the rebuild and raises
    BoardsRebuilding, or (eager Celery) rebuilds inline and reads again."""
    read = top_and_rank(period, user_id, limit, skip=skip)
    if not read.built:
        start_rebuild()
        read = top_and_rank(period, user_id, limit, skip=skip)
        if not read.built:
            raise BoardsRebuilding()
    return read


def is_built() -> bool:
    return bool(get_redis().exists(generation_key()))


def start_rebuild() -> bool:
    """Hand one rebuild to a worker (inline with eager Celery) unless one is running. True when
    this call started it."""
    r = get_redis()
    if not r.set(rebuilding_key(), "1", nx=True, ex=REBUILD_LOCK_SECONDS):
        return False
    logger.warning("leaderboards: no generation marker (Redis lost the boards); rebuilding from the ledger")
    try:
        jobs.enqueue(job_names.REBUILD_LEADERBOARDS)
    except Exception:
        r.delete(rebuilding_key())
        raise
    return True


def heal() -> list[str]:
    """The worker's rebuild: rewrite every current board from the ledger, mark the generation,
    then compare once more and fix what changed during the first pass (an award applied
    between its ledger read and its rewrite). Returns the drift the first pass fixed."""
    r = get_redis()
    try:
        drift = rebuild(write=True)
        for _ in range(5):  # each pass's window for such a race is a few milliseconds
            if not rebuild(write=True):
                break
    finally:
        r.delete(rebuilding_key())
    return drift


def reconcile() -> list[str]:
    """The beat job: compare the current boards with the ledger and fix any drift (an award
    applied while a rebuild rewrote its board). Rebuilds outright when the marker is gone."""
    if not is_built():
        return heal()
    drift = rebuild(write=True)
    if drift:
        logger.warning("leaderboards: %d drift(s) fixed: %s", len(drift), drift[:5])
    return drift


def scores_for(period: str, user_ids: list[str], now: datetime | None = None) -> dict[str, int]:
    """Period points of the given users (one ZMSCORE)."""
    if not user_ids:
        return {}
    period_id, _start, _end = period_bounds(period, now or timezone.now())
    values = get_redis().zmscore(board_key(period_id, "full"), user_ids)
    return {uid: int(float(v)) for uid, v in zip(user_ids, values, strict=True) if v is not None}


def public_ranks(period: str, user_ids: list[str], now: datetime | None = None) -> list[tuple[str, int, int]]:
    """(user_id, rank, points) on the visible board for those of `user_ids` who are on it (hidden
    users are left out), in two round trips whatever the number of users."""
    if not user_ids:
        return []
    period_id, _start, _end = period_bounds(period, now or timezone.now())
    pub = board_key(period_id, "pub")
    r = get_redis()
    scores = r.zmscore(pub, user_ids)
    present = [(uid, int(float(score))) for uid, score in zip(user_ids, scores, strict=True) if score is not None]
    if not present:
        return []
    pipe = r.pipeline(transaction=False)
    for _uid, points in present:
        pipe.zcount(pub, f"({points}", "+inf")
    above = pipe.execute()
    return [(uid, int(n) + 1, points) for (uid, points), n in zip(present, above, strict=True)]


def read_board(period_id: str, audience: str) -> dict[str, int]:
    return {m: int(float(s)) for m, s in get_redis().zrange(board_key(period_id, audience), 0, -1, withscores=True)}


# ------------------------------------------------------------------------------------------------
# Rebuild
# ------------------------------------------------------------------------------------------------
def expected_boards(now: datetime | None = None) -> dict[str, dict[str, dict[str, int]]]:
    """What every current board should hold, from the ledger: {period_id: {audience: {uid: pts}}}."""
    now = now or timezone.now()
    hidden = set(GamificationProfile.objects.filter(show_leaderboard=False).values_list("user_id", flat=True))
    boards = {}
    for period in PERIODS:
        period_id, start, end = period_bounds(period, now)
        rows = LedgerEntry.objects.all()
        if start is not None:
            rows = rows.filter(occurred_at__gte=start, occurred_at__lt=end)
        totals = {
            uid: int(total)
            for uid, total in rows.values("user_id").annotate(total=Sum("points")).values_list("user_id", "total")
            if total and total > 0
        }
        boards[period_id] = {
            "full": totals,
            "pub": {uid: pts for uid, pts in totals.items() if uid not in hidden},
            "end": end,
        }
    return boards


def rebuild(*, write: bool = True, now: datetime | None = None) -> list[str]:
    """Compare every current board with the ledger; rewrite it when `write`. Returns drift lines."""
    now = now or timezone.now()
    r = get_redis()
    drift = []

    hidden = set(GamificationProfile.objects.filter(show_leaderboard=False).values_list("user_id", flat=True))
    stored = set(r.smembers(hidden_key()))
    for uid in sorted(hidden ^ stored):
        drift.append(f"leaderboard hidden set {uid}: redis {uid in stored} != profile {uid in hidden}")
    if write and hidden != stored:
        pipe = r.pipeline(transaction=True)
        pipe.delete(hidden_key())
        if hidden:
            pipe.sadd(hidden_key(), *hidden)
        pipe.execute()
    boards = expected_boards(now)
    if write:
        # Fence first: the recent entries this rewrite counts are marked before any board is
        # written, so an award whose pipeline lands after the rewrite is not counted again. Read
        # after the totals, so every entry in them is in this list (one committed in between is
        # marked without being in the totals: the next pass, or reconcile, adds it).
        # ids start with their creation time: a range of the primary key, not a scan
        since = str(ObjectId.from_datetime(now - timedelta(seconds=FENCE_SECONDS)))
        recent = LedgerEntry.objects.filter(pk__gte=since)
        counted = {pk: now.timestamp() for pk in recent.values_list("pk", flat=True)}
        if counted:
            pipe = r.pipeline(transaction=True)
            items = list(counted.items())
            for i in range(0, len(items), 5000):
                pipe.zadd(counted_key(), dict(items[i : i + 5000]))
            pipe.execute()
    for period_id, board in boards.items():
        for audience in ("full", "pub"):
            expected = board[audience]
            actual = read_board(period_id, audience)
            for uid in sorted(set(expected) | set(actual)):
                if expected.get(uid, 0) != actual.get(uid, 0):
                    drift.append(
                        f"leaderboard {period_id}/{audience} {uid}: redis {actual.get(uid, 0)} != ledger {expected.get(uid, 0)}"
                    )
            if write and expected != actual:
                k = board_key(period_id, audience)
                pipe = r.pipeline(transaction=True)
                pipe.delete(k)
                items = list(expected.items())
                for i in range(0, len(items), 5000):
                    pipe.zadd(k, dict(items[i : i + 5000]))
                if board["end"] is not None and items:
                    pipe.expireat(k, board["end"] + GRACE)
                pipe.execute()
    if write:
        r.set(generation_key(), now.isoformat())
    return drift
