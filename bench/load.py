"""Load bench: 64 signed-in users (locust, bench/locustfile.py) through the nginx gateway
against the production shape — DEBUG=0, gunicorn (web), daphne (ws), a Celery worker, on
PostgreSQL, Redis and a MongoDB wire server (nx-27017), the AI service a fake on 127.0.0.1.

The app's processes (gunicorn, daphne, the Celery worker) are pinned to core 0; nginx, locust,
this process (the AI fake and an OTLP collector stand-in) and nx-27017 to core 1. nx-27017 stands
in for the MongoDB server, which is a service of its own like PostgreSQL and Redis (the machine's,
not pinned; measured on the second core almost always): on the app's core, this Python stand-in
for a C++ server took 15% of it. The worker runs at nice 10, as the compose file gives it a
tenth of a web container's CPU weight (`cpu_shares`): background jobs yield a shared core to
requests. Tracing is on in
every app process at a sampling ratio (`--sample`), exporting to the stand-in: after the run the
sampled traces say where each endpoint's time goes (SQL, Redis, MongoDB, outbound HTTP, the
rest in Python).

Reports requests/s, p50/p95/p99 and errors per endpoint (locust's own percentiles), and checks
the goals: zero errors; p99 <= 4x p50 on every endpoint but challenge generation. The same
percentiles are then read from the gateway's access log (nginx's request_time and the upstream's
time, every request, not sampled), beside the busy share of each core, the CPU each started
process used, and the p50/p99 of the sampled request spans: a request span's p99 far below the
gateway's says the time went to waiting for a worker or the core, not to the request's own work.

    .venv/bin/python bench/load.py [--users 64 --seconds 180 --warmup 20 --think 0.5,2.0 --sample 0.2]
                                   [--worker-class sync --web-workers 3 | --worker-class gthread --threads 4] [--worker-nice 10]
                                   [--worker-core 0]  (1: the Celery worker off the web's core)

The gateway's config is deploy/nginx/deepiri.conf when the repo has it (rendered like the
deployment does), otherwise an equivalent minimal one.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    BenchEnv,
    Procs,
    add_shape_arguments,
    run_locust,
    shape_env,
    start_shape,
)

NO_CHALLENGE_GOAL = "POST /api/challenges/generate"


def read_stats(csv_prefix: Path) -> list[dict]:
    with open(f"{csv_prefix}_stats.csv") as f:
        return list(csv.DictReader(f))


def tail_goal(name: str, ratio: float, errors: int = 0) -> tuple[bool, str]:
    """The per-endpoint goal: p99 <= 4x p50 and no errors; challenge generation is reported apart."""
    if name == NO_CHALLENGE_GOAL:
        return True, "(reported separately)"
    met = ratio <= 4 and errors == 0
    return met, "p99<=4xp50 " + ("ok" if met else "MISSED")


def report_stats(rows: list[dict], seconds: int) -> bool:
    print(f"\n== {seconds}s of load through the gateway, per endpoint (locust)")
    print(
        f"  {'endpoint':<38} {'requests':>8} {'errors':>6} {'req/s':>7} {'p50':>6} {'p95':>6} {'p99':>6} "
        f"{'p99/p50':>7}  goal"
    )
    ok = True
    for row in rows:
        name = row["Name"]
        p50, p95, p99 = (float(row[k] or 0) for k in ("50%", "95%", "99%"))
        errors = int(row["Failure Count"])
        ratio = p99 / p50 if p50 else float("inf")
        if name == "Aggregated":
            goal = "zero errors" + (" ok" if errors == 0 else " MISSED")
            ok &= errors == 0
        else:
            met, goal = tail_goal(name, ratio, errors)
            ok &= met
        print(
            f"  {name:<38} {row['Request Count']:>8} {errors:>6} {float(row['Requests/s']):>7.1f} "
            f"{p50:>6.0f} {p95:>6.0f} {p99:>6.0f} {ratio:>7.1f}  {goal}"
        )
    print("  (times in ms)")
    return ok


ID_SEGMENT = re.compile(r"/[0-9a-f]{24}(?=/|$)")


def gateway_rows(log: Path, offset: int) -> list[dict]:
    """The gateway's own view of every request after `offset` in its JSON access log:
    `request_time` (first byte from the client to the last byte sent back) and the upstream's
    response time, per endpoint. Unlike locust's figures, these leave out the load generator's
    own scheduling (locust shares a core with nginx and the data servers)."""
    by_name: dict[str, dict[str, list[float]]] = defaultdict(lambda: {"total": [], "upstream": []})
    with open(log, "rb") as f:
        f.seek(offset)
        for line in f:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            path = ID_SEGMENT.sub("/{id}", entry["uri"].split("?", 1)[0])
            if path.startswith("/api/health"):
                continue
            times = by_name[f"{entry['method']} {path}"]
            times["total"].append(float(entry["request_time"]) * 1000)
            upstream = entry["upstream_time"].split(",")[-1].strip()
            if upstream and upstream != "-":
                times["upstream"].append(float(upstream) * 1000)
    return [{"name": name, **times} for name, times in sorted(by_name.items())]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def report_gateway(rows: list[dict]) -> bool:
    print("\n== the same run at the gateway (nginx access log: request_time; upstream = gunicorn/daphne)")
    print(
        f"  {'endpoint':<38} {'requests':>8} {'p50':>6} {'p95':>6} {'p99':>6} {'p99/p50':>7}"
        f" {'up p50':>6} {'up p99':>6}  goal"
    )
    ok = True
    for row in rows:
        total, upstream = row["total"], row["upstream"]
        p50, p95, p99 = (_pct(total, q) for q in (0.5, 0.95, 0.99))
        ratio = p99 / p50 if p50 else float("inf")
        met, goal = tail_goal(row["name"], ratio)
        ok &= met
        print(
            f"  {row['name']:<38} {len(total):>8} {p50:>6.0f} {p95:>6.0f} {p99:>6.0f} {ratio:>7.1f}"
            f" {_pct(upstream, 0.5):>6.0f} {_pct(upstream, 0.99):>6.0f}  {goal}"
        )
    print("  (times in ms)")
    return ok


class CpuSampler(threading.Thread):
    """Busy share of each core, from /proc/stat once a second, while the load runs."""

    def __init__(self):
        super().__init__(daemon=True)
        self.samples: list[list[float]] = []
        self.halt = threading.Event()

    @staticmethod
    def _read() -> list[tuple[int, int]]:
        cores = []
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("cpu") and line[3:4].isdigit():
                fields = [int(v) for v in line.split()[1:]]
                idle = fields[3] + fields[4]
                cores.append((sum(fields), idle))
        return cores

    def run(self):
        before = self._read()
        while not self.halt.wait(1.0):
            now = self._read()
            self.samples.append(
                [100 * (1 - (i1 - i0) / max(1, t1 - t0)) for (t0, i0), (t1, i1) in zip(before, now, strict=True)]
            )
            before = now

    def report(self) -> None:
        self.halt.set()
        if not self.samples:
            return
        print("\n== CPU busy per core during the run (/proc/stat, 1 s samples)")
        for core in range(len(self.samples[0])):
            values = [s[core] for s in self.samples]
            print(
                f"  core {core}: mean {statistics.mean(values):5.1f}%  p90 {_pct(values, 0.9):5.1f}%"
                f"  max {max(values):5.1f}%"
            )


def cpu_seconds(procs: Procs) -> dict[str, float]:
    """User + system CPU seconds of each started process and its children (by process group)."""
    tick = os.sysconf("SC_CLK_TCK")
    groups = {proc.pid: name for name, proc in procs.procs}
    used: dict[str, float] = defaultdict(float)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        name = groups.get(int(fields[2]))  # the process group: each started process leads its own
        if name:
            used[name] += (int(fields[11]) + int(fields[12])) / tick
    return used


def pg_sessions() -> int:
    """Sessions PostgreSQL has opened on the bench's database so far (pg_stat_database,
    PostgreSQL 14+): the difference over a run is the app's connection churn."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # not the statistics cached earlier in this session
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return int(cursor.fetchone()[0] or 0)


def redis_connections(url: str) -> int:
    """Connections the Redis server has accepted so far (INFO stats)."""
    import redis

    return int(redis.Redis.from_url(url).info("stats")["total_connections_received"])


def report_cpu_by_process(before: dict[str, float], after: dict[str, float], seconds: float) -> None:
    print("\n== CPU by process during the run (share of one core)")
    for name in sorted(after, key=lambda n: -(after[n] - before.get(n, 0))):
        print(f"  {name:<10} {100 * (after[name] - before.get(name, 0)) / seconds:5.1f}%")


def _category(span) -> str | None:
    system = span.attributes.get("db.system") or span.attributes.get("db.system.name")
    if system == "postgresql":
        return "SQL"
    if system == "redis":
        return "Redis"
    if system == "mongodb":
        return "MongoDB"
    if span.attributes.get("http.url") or span.attributes.get("url.full"):
        return "HTTP out"
    if span.name.startswith("apply_async/"):
        return "Celery publish"
    return None


def report_traces(spans) -> None:
    """Per endpoint: mean time of the sampled requests and how much of it went where (the web
    process's own spans; the rest is Python: DRF, serializers, rendering)."""
    by_trace = defaultdict(list)
    for s in spans:
        by_trace[s.trace_id].append(s)
    per_route: dict[str, list[dict]] = defaultdict(list)
    worker_ms: dict[str, list[float]] = defaultdict(list)
    for trace in by_trace.values():
        roots = [
            s
            for s in trace
            if s.parent_id is None
            and s.service == "deepiri-web"
            and s.name.split(" ")[0] in ("GET", "POST", "PUT", "PATCH", "DELETE")
        ]
        if len(roots) != 1:
            continue
        root = roots[0]
        parts: dict[str, float] = defaultdict(float)
        counts: dict[str, int] = defaultdict(int)
        for s in trace:
            if s.service != root.service:
                continue
            cat = _category(s)
            if cat:
                parts[cat] += s.duration_ms
                counts[cat] += 1
        parts["total"] = root.duration_ms
        parts.update({f"n {k}": v for k, v in counts.items()})
        per_route[root.name].append(parts)
        runs = [s.duration_ms for s in trace if s.name.startswith("run/") and s.service == "deepiri-worker"]
        if runs:
            worker_ms[root.name].append(sum(runs))
    print("\n== where the time goes (sampled traces; mean ms per request in the web process)")
    cats = ["SQL", "Redis", "MongoDB", "HTTP out", "Celery publish"]
    print(
        f"  {'route':<36} {'traces':>6} {'total':>6} "
        + " ".join(f"{c:>14}" for c in cats)
        + f" {'Python':>7} {'p50':>5} {'p99':>5}"
    )
    for route, rows in sorted(per_route.items()):
        mean = {k: statistics.mean(r.get(k, 0) for r in rows) for k in ["total", *cats, *[f"n {c}" for c in cats]]}
        python = mean["total"] - sum(mean[c] for c in cats)
        cells = " ".join(f"{mean[c]:>7.2f} ({mean['n ' + c]:>4.1f})" for c in cats)
        totals = [r["total"] for r in rows]
        print(
            f"  {route:<36} {len(rows):>6} {mean['total']:>6.2f} {cells} {python:>7.2f}"
            f" {_pct(totals, 0.5):>5.0f} {_pct(totals, 0.99):>5.0f}"
        )
    print(
        "  (n) = spans per request; p50/p99 of the request span itself: from the first middleware to the"
        " response,\n  so the gateway's time above it is spent before a worker takes the request"
    )
    for route, values in worker_ms.items():
        print(
            f"  {route}: the Celery task ran {statistics.mean(values):.1f} ms on average in the worker "
            f"({len(values)} traces)"
        )


def main():
    ap = argparse.ArgumentParser()
    add_shape_arguments(ap)
    ap.add_argument("--seconds", type=int, default=180)
    ap.add_argument("--sample", type=float, default=0.2, help="trace sampling ratio (0 turns tracing off)")
    args = ap.parse_args()
    if not shutil.which("nginx"):
        sys.exit("nginx is not installed (apt-get install nginx-light)")

    from challenges.tests.fake_cyrex import FakeCyrex
    from devtools.testing.tracing import OtlpCollector

    tmp = Path(tempfile.mkdtemp(prefix="deepiri-load-"))
    procs = Procs()
    queue = f"bench-load-{os.getpid()}"
    with (
        BenchEnv("load", redis_db=int(os.environ.get("BENCH_REDIS_DB", "14")), extra_env=shape_env(queue)) as env,
        FakeCyrex(api_key="bench-key") as cyrex,
        OtlpCollector() as collector,
    ):
        try:
            shape = start_shape(
                args, env, procs, tmp, queue=queue, ai_url=cyrex.url, collector_url=collector.url, sample=args.sample
            )
            host, tokens_file = shape.host, shape.tokens_file
            if args.warmup:
                run_locust(args, host, tokens_file, args.warmup, tmp / "warmup", args.users)
            collector.clear()
            access_log = tmp / "access.log"
            offset = access_log.stat().st_size
            cpu = CpuSampler()
            cpu.start()
            used_before, started = cpu_seconds(procs), time.monotonic()
            sessions_before, redis_before = pg_sessions(), redis_connections(env.env["REDIS_URL"])
            run_locust(args, host, tokens_file, args.seconds, tmp / "load", args.users)
            used_after, elapsed = cpu_seconds(procs), time.monotonic() - started
            cpu.report()
            report_cpu_by_process(used_before, used_after, elapsed)
            opened = pg_sessions() - sessions_before
            redis_opened = redis_connections(env.env["REDIS_URL"]) - redis_before
            print(f"\n== connections opened during the run: PostgreSQL {opened} ({opened / elapsed:.1f}/s), "
                  f"Redis {redis_opened} ({redis_opened / elapsed:.1f}/s; the server is shared, so an upper bound)")
            rows = read_stats(tmp / "load")
            procs.stop()  # the app processes flush their last spans as they exit
            ok = report_stats(rows, args.seconds)
            at_gateway = report_gateway(gateway_rows(access_log, offset))
            failures = tmp / "load_failures.csv"
            if failures.exists() and len(failures.read_text().splitlines()) > 1:
                print("\n  failures:\n" + "\n".join("    " + line for line in failures.read_text().splitlines()[:20]))
            if args.sample > 0:
                report_traces(collector.spans)
            print(
                f"\n  goals {'met' if ok else 'NOT met'} (locust); {'met' if at_gateway else 'NOT met'} at the gateway"
            )
        finally:
            procs.stop()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
