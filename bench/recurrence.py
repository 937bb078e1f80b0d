"""Recurring tasks: the cost of completing an occurrence (its next occurrence created in the same
transaction) against completing a plain task, `POST /api/tasks/{id}/complete` through Django's
test client in this process, alternating per round; goal <= 1.15x. Then the expansion vectors
and the DST property over 10,000 examples (goal: 0 failures).

    .venv/bin/python bench/recurrence.py [--n 200 --rounds 5 --examples 10000]

Uses the PostgreSQL database deepiri_bench_recur and Redis db 2 unless BENCH_DATABASE_URL /
BENCH_REDIS_URL say otherwise.
"""

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BenchEnv  # noqa: E402


def completions(n: int, rounds: int) -> None:
    from django.test import Client

    from accounts.models import User
    from accounts.tokens import issue_pair
    from tasks.services import create_task

    user = User.objects.create_user(email="bench-recur@example.com", password="Bench-Pass-123", name="Bench")
    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {issue_pair(user)['token']}")

    def make(kind: str, count: int) -> list[str]:
        due = datetime.now(UTC) + timedelta(hours=1)
        extra = {"recurrence": {"rule": "FREQ=WEEKLY;BYDAY=MO,WE,FR", "anchor": "due"}} if kind == "occurrence" else {}
        return [create_task(user, title=f"{kind} {i}", understand=False, due_date=due, priority="high",
                            tags=["bench"], estimated_duration=20, **extra).pk for i in range(count)]

    def complete(pk: str) -> float:
        start = time.perf_counter()
        response = client.post(f"/api/tasks/{pk}/complete", {}, content_type="application/json")
        spent = time.perf_counter() - start
        assert response.status_code == 200, response.content
        return spent

    # warm the code paths
    for plain, occurrence in zip(make("plain", 20), make("occurrence", 20), strict=True):
        complete(plain), complete(occurrence)
    costs = []
    for _ in range(rounds):
        spent = {"plain": 0.0, "occurrence": 0.0}
        # one of each in turn, so that drift on a shared machine hits both alike
        for plain, occurrence in zip(make("plain", n), make("occurrence", n), strict=True):
            spent["plain"] += complete(plain)
            spent["occurrence"] += complete(occurrence)
        costs.append(spent["occurrence"] / spent["plain"])
        print(f"  round: plain {spent['plain'] / n * 1e3:.2f} ms, occurrence (+ next) "
              f"{spent['occurrence'] / n * 1e3:.2f} ms per completion")
    print(f"\n  cost occurrence/plain: {statistics.median(costs):.3f}x (goal <= 1.15x), "
          f"per round {min(costs):.3f}-{max(costs):.3f}\n")


def properties(examples: int) -> None:
    from hypothesis import HealthCheck, settings

    from tasks.tests import test_recurrence_rules as t

    failures = []
    for case in t.VECTORS:
        try:
            t.run_vector(case)
        except AssertionError as exc:
            failures.append((case["name"], exc))
    print(f"  vectors: {len(t.VECTORS)} cases, {len(failures)} failures {failures or ''}")

    seen = [0]

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @t.property_inputs
    def prop(zone_name, rule, start):
        seen[0] += 1
        t.check_property(zone_name, rule, start)

    began = time.perf_counter()
    prop()
    print(f"  DST property: {seen[0]} examples, 0 failures ({time.perf_counter() - began:.1f} s)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--examples", type=int, default=10_000)
    ap.add_argument("--skip-properties", action="store_true")
    args = ap.parse_args()
    with BenchEnv("recur", redis_db=2) as env:
        env.django_setup()
        print("POST /api/tasks/{id}/complete: plain task vs occurrence of a repeating task (in process)")
        completions(args.n, args.rounds)
    if not args.skip_properties:
        properties(args.examples)


if __name__ == "__main__":
    main()
