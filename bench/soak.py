"""Soak gate: the production shape of bench/load.py (nginx, gunicorn, daphne, a Celery worker
and Celery beat, pinned the same way) under its steady signed-in load for `--minutes`, sampled
every `--interval` seconds: the resident memory and open file descriptors of every server
process, the PostgreSQL connections to the soak database, the key count and memory of the Redis
server, and the outbox backlog. Redis is a private redis-server, so its DBSIZE and memory are the
app's alone.

At the end each series is judged by `judge()`: a series fails when, after warm-up (the second
half of the samples), its least-squares slope projected over the whole run exceeds both a
tolerance (10 % of its level) and an absolute floor, stands three standard errors clear of the
noise, and the series rose (did not fall) in most intervals. A sawtooth (GC, recycled workers) or noise around a level passes; a steady climb
fails. Prints the table and exits 1 when any series fails.

    .venv/bin/python bench/soak.py [--minutes 10 --interval 15] [the options of bench/load.py]
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    ROOT,
    BenchEnv,
    Procs,
    add_shape_arguments,
    free_port,
    locust_command,
    pin,
    shape_env,
    start_shape,
)

MB = 1024 * 1024
# The absolute growth over a run below which a series never fails, whatever its share: a
# process settling its caches, a pool filling up to its size.
FLOORS = {"rss": 20.0, "fds": 20.0, "pg connections": 5.0, "redis keys": 500.0, "redis memory": 20.0, "outbox": 50.0}
UNITS = {"rss": "MB", "fds": "", "pg connections": "", "redis keys": "", "redis memory": "MB", "outbox": "rows"}
SERVER_GROUPS = ("gunicorn", "daphne", "celery", "beat")


@dataclass(frozen=True)
class Verdict:
    slope_per_min: float  # least squares over the second half of the samples
    growth: float  # that slope over the whole run
    rising_share: float  # intervals of the second half that did not fall
    grows: bool


def judge(minutes: list[float], values: list[float], *, floor: float, tolerance: float = 0.10) -> Verdict:
    """Whether a sampled series grows monotonically. The first half is warm-up (caches fill,
    pools open, the allocator takes its arenas); over the second half, the least-squares slope
    times the run's length must exceed `floor` and `tolerance` of the series' level, stand
    three standard errors clear of zero, and the series must not fall in most of the intervals:
    a leak climbs steadily, a GC sawtooth falls back every few samples and noise falls about half
    the time."""
    half = len(values) // 2
    xs, ys = minutes[half:], values[half:]
    if len(ys) < 3 or xs[-1] == xs[0]:
        return Verdict(0.0, 0.0, 0.0, False)
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    growth = slope * (minutes[-1] - minutes[0])
    level = abs(my - slope * (mx - xs[0]))  # the fitted value where the second half starts
    rising = sum(b >= a for a, b in zip(ys, ys[1:], strict=False)) / (len(ys) - 1)
    # Noise alone tilts a fitted line now and then, and the run's length magnifies that tilt:
    # the slope must also stand three standard errors clear of zero.
    residual = sum((y - my - slope * (x - mx)) ** 2 for x, y in zip(xs, ys, strict=True)) / (len(ys) - 2)
    clear = slope > 3 * math.sqrt(residual / sxx)
    grows = growth > floor and growth > tolerance * level and rising > 0.5 and clear
    return Verdict(slope, growth, rising, grows)


class ProcessSlots:
    """Stable names for the processes of one started process group (each leads its own): the
    leader is "<group>", its children "<group> 1..n" by pid. A child that exits and is replaced
    (gunicorn's max_requests, Celery's max-tasks-per-child) hands its slot to the newcomer, so the
    series follows the slot, as a dashboard per container would."""

    def __init__(self, group: str, leader: int):
        self.group, self.leader = group, leader
        self.slots: dict[int, int] = {}

    def name(self, pid: int, alive: set[int]) -> str:
        if pid == self.leader:
            return "gunicorn master" if self.group == "gunicorn" else self.group
        if pid not in self.slots:
            free = sorted(set(range(1, len(self.slots) + 2)) - {s for p, s in self.slots.items() if p in alive})
            self.slots[pid] = free[0]
        label = "gunicorn worker" if self.group == "gunicorn" else f"{self.group} child"
        return f"{label} {self.slots[pid]}"


def process_sample(procs: Procs, slots: dict[str, ProcessSlots]) -> dict[tuple[str, str], float]:
    """RSS (MB) and open descriptors of every process in the server groups."""
    leaders = {proc.pid: name for name, proc in procs.procs if name in SERVER_GROUPS}
    members: dict[str, list[int]] = {name: [] for name in leaders.values()}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        group = leaders.get(int(fields[2]))
        if group:
            members[group].append(int(entry.name))
    out: dict[tuple[str, str], float] = {}
    for leader, group in leaders.items():
        tracker = slots.setdefault(group, ProcessSlots(group, leader))
        alive = set(members[group])
        for pid in sorted(alive):
            try:
                status = (Path("/proc") / str(pid) / "status").read_text()
                fds = len(os.listdir(f"/proc/{pid}/fd"))
            except OSError:
                continue  # exited between the listing and the read
            rss_kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
            name = tracker.name(pid, alive)
            out[("rss", name)] = rss_kb / 1024
            out[("fds", name)] = fds
    return out


def shared_sample(redis_url: str) -> dict[tuple[str, str], float]:
    import redis
    from django.db import connection

    from kernel.models import OutboxJob

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        pg = cursor.fetchone()[0]
    client = redis.Redis.from_url(redis_url)
    return {
        ("pg connections", "soak database"): pg,
        ("redis keys", "DBSIZE"): client.dbsize(),
        ("redis memory", "used_memory"): client.info("memory")["used_memory"] / MB,
        ("outbox", "OutboxJob rows"): OutboxJob.objects.count(),
    }


def report(minutes: list[float], series: dict[tuple[str, str], list[float | None]]) -> bool:
    print(f"\n== soak: {len(minutes)} samples over {minutes[-1]:.1f} min (judged on the second half)")
    print(f"  {'series':<38} {'first':>9} {'last':>9} {'max':>9} {'slope/min':>9} {'growth':>9} {'rising':>6}  verdict")
    ok = True
    order = list(FLOORS)
    for (kind, name), raw in sorted(series.items(), key=lambda item: order.index(item[0][0])):
        points = [(t, v) for t, v in zip(minutes, raw, strict=True) if v is not None]
        ts, vs = [t for t, _ in points], [v for _, v in points]
        verdict = judge(ts, vs, floor=FLOORS[kind])
        ok &= not verdict.grows
        unit = f" ({UNITS[kind]})" if UNITS[kind] else ""
        print(
            f"  {kind + ' ' + name + unit:<38} {vs[0]:>9.1f} {vs[-1]:>9.1f} {max(vs):>9.1f} "
            f"{verdict.slope_per_min:>9.2f} {verdict.growth:>9.1f} {verdict.rising_share:>6.0%}  "
            f"{'GROWS' if verdict.grows else 'ok'}"
        )
    print(
        "  growth = slope x run length; a series fails when growth > 10% of its level and > its floor "
        f"({', '.join(f'{k} {v:g}' for k, v in FLOORS.items())}),\n  stands 3 standard errors clear of"
        " the noise, and the series did not fall in most intervals (rising)"
    )
    return ok


def report_failures(path: Path) -> None:
    """The load's failed requests by endpoint and error code (locust keeps one row per message,
    and each message holds its request id)."""
    if not path.exists():
        return
    counts: dict[tuple[str, str], int] = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            code = re.search(r'"code":\s*"([a-z_]+)"', row["Error"])
            status = re.search(r"\b([45]\d\d)\b", row["Error"])
            key = (row["Name"], f"{status.group(1) if status else '?'} {code.group(1) if code else row['Error'][:60]}")
            counts[key] = counts.get(key, 0) + int(row["Occurrences"])
    for (name, error), count in sorted(counts.items(), key=lambda item: -item[1]):
        print(f"    {count:>6}  {name}: {error}")


def private_redis(tmp: Path) -> tuple[subprocess.Popen, str]:
    """A redis-server of this run on core 1 (no persistence): its DBSIZE and memory are the
    app's alone, and the machine's shared Redis is left as it is."""
    import redis

    port = free_port()
    proc = subprocess.Popen(
        pin([shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(tmp)], 1),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        try:
            redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
            return proc, url
        except redis.ConnectionError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("redis-server did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_shape_arguments(ap)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--interval", type=float, default=15, help="seconds between two samples")
    args = ap.parse_args()
    if not shutil.which("nginx"):
        sys.exit("nginx is not installed (apt-get install nginx-light)")

    from challenges.tests.fake_cyrex import FakeCyrex

    tmp = Path(tempfile.mkdtemp(prefix="deepiri-soak-"))
    procs = Procs()
    queue = f"bench-soak-{os.getpid()}"
    redis_server, redis_url = private_redis(tmp)
    locust = None
    try:
        extra = {**shape_env(queue), "REDIS_URL": redis_url}
        with BenchEnv("soak", extra_env=extra) as env, FakeCyrex(api_key="bench-key") as cyrex:
            assert "soak" in env.db
            try:
                shape = start_shape(args, env, procs, tmp, queue=queue, ai_url=cyrex.url, beat=True)
                if args.warmup:
                    cmd, lenv = locust_command(args, shape.host, shape.tokens_file, args.warmup, tmp / "warmup",
                                               args.users)
                    subprocess.run(cmd, cwd=ROOT, env=lenv, check=False, stdout=subprocess.DEVNULL)
                seconds = int(args.minutes * 60)
                cmd, lenv = locust_command(args, shape.host, shape.tokens_file, seconds + 5, tmp / "soak",
                                           args.users)
                # Its own summary would bury the table; the failures are summed up below instead.
                locust = subprocess.Popen(cmd, cwd=ROOT, env=lenv, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, start_new_session=True)
                print(f"soak: {args.users} users for {args.minutes:g} min, a sample every {args.interval:g} s")
                slots: dict[str, ProcessSlots] = {}
                minutes: list[float] = []
                series: dict[tuple[str, str], list[float | None]] = {}
                started = time.monotonic()
                for i in range(int(seconds // args.interval) + 1):
                    time.sleep(max(0.0, started + i * args.interval - time.monotonic()))
                    if locust.poll() is not None:
                        raise RuntimeError(f"locust exited early ({locust.returncode})")
                    for name, proc in procs.procs:
                        if proc.poll() is not None:
                            raise RuntimeError(f"{name} exited ({proc.returncode})")
                    sample = {**process_sample(procs, slots), **shared_sample(env.env["REDIS_URL"])}
                    minutes.append((time.monotonic() - started) / 60)
                    for key, value in sample.items():
                        series.setdefault(key, [None] * (len(minutes) - 1)).append(value)
                    for values in series.values():
                        if len(values) < len(minutes):
                            values.append(None)  # a slot whose process was between two lives
                    print(f"  {minutes[-1]:5.2f} min  " + "  ".join(
                        f"{kind} {sum(v for (k, _n), v in sample.items() if k == kind):.0f}"
                        for kind in FLOORS
                    ), flush=True)
                locust.wait(60)  # it runs a few seconds past the last sample, then writes its summary
                ok = report(minutes, series)
                with open(f"{tmp / 'soak'}_stats.csv") as f:
                    total = next(row for row in csv.DictReader(f) if row["Name"] == "Aggregated")
                print(f"  load: {total['Request Count']} requests, {total['Failure Count']} errors, "
                      f"{float(total['Requests/s']):.1f} req/s")
                report_failures(Path(f"{tmp / 'soak'}_failures.csv"))
                ok &= int(total["Request Count"]) > 0
            finally:
                if locust is not None and locust.poll() is None:
                    locust.kill()
                    locust.wait(10)
                procs.stop()
    finally:
        redis_server.terminate()
        redis_server.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n  soak gate {'passed' if ok else 'FAILED'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
