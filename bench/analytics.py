"""Analytics benchmark: aggregation pipelines vs loading the events into Python, same run.

A user with 100,000 events over a year. Timed, as medians of several alternating rounds:

  stats?period=month   selectors.stats()        pipelines over the daily rollups (what the API does)
  performance          selectors.performance()  pipelines over the daily rollups (days=365)
  raw-event pipeline   $group over the month's raw events in the database (no rollups)
  python baseline      load the same events (month / year) into Python and sum there

and prints the ratios (baseline / pipeline). The endpoints' results are checked against the
Python sums, so the comparison is between equal answers.

    .venv/bin/python bench/analytics.py                      # nx-27017 started on a free port
    MONGODB_URI=mongodb://127.0.0.1:27017 .venv/bin/python bench/analytics.py   # a real server
    .venv/bin/python bench/analytics.py --engine embedded    # mongomock (in process)
    options: --events 100000 --repeat 5
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deepiri.settings_test")

import django  # noqa: E402

django.setup()

from pymongo import MongoClient  # noqa: E402

from accounts.models import User  # noqa: E402
from analytics import mongo, rebuild, rules, selectors, services  # noqa: E402
from analytics.documents import DailyStat, Event  # noqa: E402

TZ = "America/New_York"
NOW = datetime(2026, 6, 30, 18, 0, tzinfo=UTC)
TASK_TYPES = ["code", "study", "creative", "meeting", "research", "admin", "manual"]
CHALLENGE_TYPES = ["quiz", "puzzle", "coding_challenge", "timed_completion"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_nx():
    binary = Path(sys.executable).with_name("nx-27017")
    workdir = tempfile.mkdtemp(prefix="bench-nx-")
    port = free_port()
    proc = subprocess.Popen(
        [
            str(binary),
            "-p",
            str(port),
            "--db",
            "memory",
            "--log-file",
            f"{workdir}/nx.log",
            "--pid-file",
            f"{workdir}/nx.pid",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    uri = f"mongodb://127.0.0.1:{port}/"
    deadline = time.monotonic() + 20
    while True:
        try:
            with MongoClient(uri, serverSelectionTimeoutMS=250) as client:
                client.admin.command("ping")
            return proc, uri
        except Exception:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise SystemExit("nx-27017 did not start") from None
            time.sleep(0.05)


def generate(user, count: int) -> list[dict]:
    rng = random.Random(7)
    tz = ZoneInfo(TZ)
    start = NOW - timedelta(days=365)
    records = []
    for n in range(count):
        when = start + timedelta(seconds=rng.randrange(365 * 86400))
        kind = rng.choices(
            ["task.created", "task.completed", "challenge.completed", "points.awarded"], [30, 40, 10, 20]
        )[0]
        if kind == "task.created":
            data = {"task_id": f"t{n}", "task_type": rng.choice(TASK_TYPES)}
        elif kind == "task.completed":
            data = {
                "task_id": f"t{n}",
                "task_type": rng.choice(TASK_TYPES),
                "actual_duration": float(rng.randint(5, 180)),
                "efficiency": float(rng.randint(20, 100)),
            }
        elif kind == "challenge.completed":
            data = {
                "challenge_id": f"c{n}",
                "challenge_type": rng.choice(CHALLENGE_TYPES),
                "score": float(rng.randint(0, 100)),
                "completion_minutes": float(rng.randint(1, 30)),
            }
        else:
            amount = rng.choice([50, 100, 150])
            data = {"points": amount, "xp": amount}
        records.append(
            services.make_record(kind, user.id, tz, when, event_id=f"{kind}:{n}", subject_id=str(n), data=data)
        )
    return records


def load(records: list[dict]) -> None:
    now = datetime.now(UTC)
    events = Event._get_collection()
    for i in range(0, len(records), 5000):
        events.insert_many(
            [
                {**r, "occurred_at": datetime.fromisoformat(r["occurred_at"]), "recorded_at": now}
                for r in records[i : i + 5000]
            ],
            ordered=False,
        )
    docs = []
    for day, built in rebuild.rollups(records).items():
        doc = services.day_defaults(records[0]["user_id"], day, built["tz"])
        doc.update(metrics=built["metrics"], applied=built["applied"])
        docs.append(doc)
    DailyStat._get_collection().insert_many(docs, ordered=False)
    Event.ensure_indexes()
    DailyStat.ensure_indexes()


# ---- the Python baseline: the same answers from the raw events --------------------------------

FIELDS = {"_id": 0, "type": 1, "day": 1, "hour": 1, "weekday": 1, "data": 1}


def python_stats(user, period):
    start, end = rules.period_range(period, ZoneInfo(TZ), NOW)
    out = {"tasks": 0, "challenges": 0, "time": 0, "points": 0, "eff_sum": 0.0, "eff_n": 0, "by_type": {}}
    for e in Event._get_collection().find({"user_id": user.id, "day": {"$gte": start, "$lte": end}}, FIELDS):
        d = e["data"]
        if e["type"] == "task.completed":
            out["tasks"] += 1
            out["time"] += int(round(d["actual_duration"]))
            out["eff_sum"] += d["efficiency"]
            out["eff_n"] += 1
            out["by_type"][d["task_type"]] = out["by_type"].get(d["task_type"], 0) + 1
        elif e["type"] == "challenge.completed":
            out["challenges"] += 1
            out["time"] += int(round(d["completion_minutes"]))
        elif e["type"] == "points.awarded":
            out["points"] += d["points"]
    return out


def python_performance(user, days):
    start, end = rules.days_range(days, ZoneInfo(TZ), NOW)
    grid = [[0] * 24 for _ in range(7)]
    weekly: dict[str, list] = {}
    for e in Event._get_collection().find({"user_id": user.id, "day": {"$gte": start, "$lte": end}}, FIELDS):
        week = rules.iso_week(datetime.fromisoformat(e["day"]).date())
        row = weekly.setdefault(week, [0, 0, 0])
        if e["type"] in ("task.completed", "challenge.completed"):
            grid[e["weekday"]][e["hour"]] += 1
            row[0 if e["type"] == "task.completed" else 1] += 1
        elif e["type"] == "points.awarded":
            row[2] += e["data"]["points"]
    return grid, weekly


def raw_event_pipeline(user, period):
    start, end = rules.period_range(period, ZoneInfo(TZ), NOW)
    return list(
        Event._get_collection().aggregate(
            [
                {"$match": {"user_id": user.id, "day": {"$gte": start, "$lte": end}}},
                {
                    "$group": {
                        "_id": "$type",
                        "n": {"$sum": 1},
                        "points": {"$sum": "$data.points"},
                        "eff": {"$sum": "$data.efficiency"},
                    }
                },
            ]
        )
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--engine", choices=["wire", "embedded"], default="wire")
    args = parser.parse_args()

    proc = None
    uri = os.environ.get("MONGODB_URI", "")
    if args.engine == "embedded":
        uri = ""
    elif not uri:
        proc, uri = start_nx()
    db_name = f"bench_analytics_{os.getpid()}"
    mongo.connect(uri, db_name)
    try:
        label = "mongomock (embedded)" if not uri else (f"nx-27017 at {uri}" if proc else uri)
        user = User(id="6a1b2c3d4e5f60718293a4b5", email="bench@example.com", timezone=TZ)
        t0 = time.perf_counter()
        records = generate(user, args.events)
        load(records)
        print(
            f"engine: {label}; {args.events:,} events over 365 days, "
            f"{DailyStat.objects(user_id=user.id).count()} daily rollups; loaded in {time.perf_counter() - t0:.1f}s"
        )

        # alternate the variants round by round, so drift (other load on the machine) hits all alike
        variants = {
            "stats": lambda: selectors.stats(user, "month", NOW),
            "perf": lambda: selectors.performance(user, 365, NOW),
            "raw": lambda: raw_event_pipeline(user, "month"),
            "py_stats": lambda: python_stats(user, "month"),
            "py_perf": lambda: python_performance(user, 365),
        }
        samples: dict[str, list[float]] = {name: [] for name in variants}
        results = {}
        for _ in range(args.repeat):
            for name, fn in variants.items():
                t0 = time.perf_counter()
                results[name] = fn()
                samples[name].append(time.perf_counter() - t0)
        t_stats, t_perf, t_raw, t_py_stats, t_py_perf = (
            statistics.median(samples[name]) for name in ("stats", "perf", "raw", "py_stats", "py_perf")
        )
        stats, perf, py_stats = results["stats"], results["perf"], results["py_stats"]
        grid, weekly = results["py_perf"]

        # same answers
        assert stats["total_tasks_completed"] == py_stats["tasks"], (stats, py_stats)
        assert stats["total_points_earned"] == py_stats["points"]
        assert stats["total_time_spent"] == py_stats["time"]
        assert stats["tasks_by_type"] == dict(sorted(py_stats["by_type"].items()))
        assert perf["heatmap"]["values"] == grid
        assert [w["week"] for w in perf["trends"]["weekly"]] == sorted(weekly)

        def ms(t):
            return f"{t * 1000:9.1f} ms"

        print(f"stats?period=month  pipeline (rollups)      {ms(t_stats)}")
        print(f"stats?period=month  pipeline (raw events)   {ms(t_raw)}")
        print(
            f"stats?period=month  python over events      {ms(t_py_stats)}   "
            f"ratio {t_py_stats / t_stats:6.1f}x vs rollups, {t_py_stats / t_raw:5.1f}x vs raw-event pipeline"
        )
        print(f"performance (365d)  pipeline (rollups)      {ms(t_perf)}")
        print(f"performance (365d)  python over events      {ms(t_py_perf)}   ratio {t_py_perf / t_perf:6.1f}x")
    finally:
        try:
            mongo.database().client.drop_database(db_name)
        finally:
            mongo.disconnect()
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=10)


if __name__ == "__main__":
    main()
