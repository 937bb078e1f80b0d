"""Gamification benchmark, on real PostgreSQL and Redis.

1. Leaderboard read — top 100 + the caller's score and rank — on a board of 1,000 members and
   on one of 1,000,000, alternating, medians of many reads. The ratio large/small must stay
   <= 1.5: the cost must not grow with the member count (one Lua round trip: ZREVRANGE over
   the top, ZSCORE and ZCOUNT, all O(log n + 100)). Timed twice: the Redis read alone, and
   the endpoint's whole payload (`selectors.leaderboard`: Redis + one SQL query for names).
2. Awards per second through `services.award()` (one transaction, one ledger row, one
   profile row lock, one Redis pipeline each) and through `record_task_completion()` (rules,
   streaks, stats, badge evaluation as well), printed.

    .venv/bin/python bench/leaderboard.py
    options: --members 1000000 --reads 300 --awards 2000
    BENCH_DATABASE_URL / BENCH_REDIS_URL override the defaults of bench/common.py.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import BenchEnv  # noqa: E402

SMALL, TOP = 1_000, 100


def seed_board(r, period_id: str, members: int, real_ids: list[str]) -> None:
    """`members` members on the 'all' board (full and pub): the real users on top, synthetic
    ids below them (the read only ever resolves the top 100 to names)."""
    from gamification.leaderboards import board_key

    full, pub = board_key(period_id, "full"), board_key(period_id, "pub")
    r.delete(full, pub)
    chunk = 20_000
    for start in range(0, members, chunk):
        mapping = {}
        for i in range(start, min(members, start + chunk)):
            member = real_ids[i] if i < len(real_ids) else f"s{i:023d}"
            mapping[member] = members * 10 - i  # distinct scores, real users highest
        pipe = r.pipeline(transaction=False)
        pipe.zadd(full, mapping)
        pipe.zadd(pub, mapping)
        pipe.execute()


def time_reads(fn, reads: int) -> float:
    samples = []
    for _ in range(reads):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def bench_reads(members: int, reads: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from gamification import leaderboards, selectors, services
    from kernel.redis import get_redis

    User = get_user_model()
    users = [User.objects.create_user(email=f"lb{i}@bench.local", password=None, name=f"Player {i}") for i in range(TOP + 1)]
    for u in users:
        services.get_or_create_profile(u)
    real_ids = [u.pk for u in users]
    me = users[-1]  # the 101st: not in the top, rank 101

    r = get_redis()
    t0 = time.perf_counter()
    # Two boards side by side: the small one as "day", the large one as "all" (same code path).
    now = datetime.now(UTC)
    small_id, _s, _e = leaderboards.period_bounds("day", now)
    seed_board(r, small_id, SMALL, real_ids)
    seed_board(r, "all", members, real_ids)
    print(f"seeded {SMALL:,} and {members:,} members in {time.perf_counter() - t0:.1f} s")
    assert r.zcard(leaderboards.board_key("all", "full")) == members

    small = leaderboards.top_and_rank("day", me.pk, TOP)
    large = leaderboards.top_and_rank("all", me.pk, TOP)
    assert len(small.top) == len(large.top) == TOP and small.my_rank == large.my_rank == TOP + 1

    def redis_small():
        leaderboards.top_and_rank("day", me.pk, TOP)

    def redis_large():
        leaderboards.top_and_rank("all", me.pk, TOP)

    def full_small():
        selectors.leaderboard(me, period="day", scope="global", limit=TOP)

    def full_large():
        selectors.leaderboard(me, period="all", scope="global", limit=TOP)

    assert len(selectors.leaderboard(me, period="all", scope="global", limit=TOP)["data"]) == TOP
    connection.ensure_connection()
    results = {"redis": ([], []), "endpoint payload": ([], [])}
    for _round in range(5):  # alternate so drift in the machine hits both sides alike
        results["redis"][0].append(time_reads(redis_small, reads // 5))
        results["redis"][1].append(time_reads(redis_large, reads // 5))
        results["endpoint payload"][0].append(time_reads(full_small, reads // 10))
        results["endpoint payload"][1].append(time_reads(full_large, reads // 10))
    out = {}
    for name, (s, lg) in results.items():
        ms, ml = statistics.median(s) * 1000, statistics.median(lg) * 1000
        out[name] = (ms, ml, ml / ms)
    for k in (leaderboards.board_key(small_id, "full"), leaderboards.board_key(small_id, "pub"),
              leaderboards.board_key("all", "full"), leaderboards.board_key("all", "pub")):
        r.unlink(k)
    return out


def bench_awards(awards: int) -> dict:
    from django.contrib.auth import get_user_model

    from gamification import services
    from kernel.ids import new_id

    User = get_user_model()
    users = [User.objects.create_user(email=f"aw{i}@bench.local", password=None, name=f"Awardee {i}") for i in range(100)]
    for u in users:
        services.get_or_create_profile(u)

    t0 = time.perf_counter()
    for i in range(awards):
        services.award(users[i % 100], points=10, xp=10, reason="bench", source="admin", idempotency_key=f"bench:{i}")
    award_rate = awards / (time.perf_counter() - t0)

    class T:  # the attributes of a Task that the rules read
        def __init__(self):
            self.pk = self.id = new_id()
            self.priority, self.type, self.source, self.due_date, self.due_date_only = "high", "manual", "manual", None, False

    n = awards // 2
    t0 = time.perf_counter()
    for i in range(n):
        services.record_task_completion(users[i % 100], T(), completed_at=datetime.now(UTC), actual_duration=20, efficiency=90)
    completion_rate = n / (time.perf_counter() - t0)
    drift = services.rebuild_all(write=False)
    for line in drift[:5]:
        print("drift:", line)
    return {"award": award_rate, "completion": completion_rate, "drift": len(drift)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--reads", type=int, default=300)
    parser.add_argument("--awards", type=int, default=2000)
    args = parser.parse_args()

    with BenchEnv("leaderboard", redis_db=14) as env:
        env.django_setup()
        from kernel.redis import get_redis, key

        r = get_redis()
        for k in list(r.scan_iter(match=key("lb", "*"), count=1000)):  # boards of an earlier run
            r.unlink(k)
        try:
            reads = bench_reads(args.members, args.reads)
            awards = bench_awards(args.awards)
        finally:
            for k in list(r.scan_iter(match=key("lb", "*"), count=1000)):  # leave the Redis db clean
                r.unlink(k)

    print(f"\n== leaderboard read: top {TOP} + own rank, {SMALL:,} vs {args.members:,} members (median)")
    ok = True
    for name, (small, large, ratio) in reads.items():
        print(f"  {name:<18} {small:7.3f} ms  vs {large:7.3f} ms   ratio {ratio:.2f} (limit 1.5)")
        ok = ok and ratio <= 1.5
    print("\n== awards through the service (PostgreSQL + Redis, one process)")
    print(f"  award()                  {awards['award']:8.0f} /s")
    print(f"  record_task_completion() {awards['completion']:8.0f} /s   (rules, streaks, stats, badges)")
    print(f"  drift after the run: {awards['drift']}")
    if not ok or awards["drift"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
