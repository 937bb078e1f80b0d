"""Tasks bench: `GET /api/tasks?limit=50` (JWT auth, DRF, filters, pagination with a count,
envelope, camelCase) against a plain Django view returning the same 50 rows via .values() and
orjson — same gunicorn worker (core 0), same data, wrk on core 1, alternating runs.
Goal: the API at >= 0.5x of the plain view.

    .venv/bin/python bench/tasks_list.py [--seconds 5 --rounds 3 --tasks 200]
"""

import argparse
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BenchEnv, alternate, report  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tasks", type=int, default=200)
    args = ap.parse_args()
    with BenchEnv("tasks") as env:
        env.django_setup()
        from django.utils import timezone

        from accounts.models import User
        from accounts.tokens import issue_pair
        from tasks.models import Task

        user = User.objects.create_user(email="bench-tasks@example.com", password="Bench-Pass-123", name="Bench")
        now = timezone.now()
        Task.objects.bulk_create(
            [
                Task(
                    user=user,
                    title=f"Task {i}: write the quarterly report section {i}",
                    description="Collect the numbers, draft the text and ask for a review. " * 3,
                    type=("code", "study", "creative", "manual")[i % 4],
                    priority=("low", "medium", "high", "urgent")[i % 4],
                    status="completed" if i % 5 == 0 else "pending",
                    due_date=now + timedelta(days=i),
                    estimated_duration=30 + i % 60,
                    tags=["work", f"q{i % 4 + 1}"],
                    classification={"type": "creative", "complexity": "medium", "estimated_duration": 30,
                                    "keywords": ["quarterly", "report"], "source": "fallback"},
                    completed_at=now if i % 5 == 0 else None,
                    actual_duration=45 if i % 5 == 0 else None,
                    efficiency=66.67 if i % 5 == 0 else None,
                )
                for i in range(args.tasks)
            ]
        )
        token = issue_pair(user)["token"]
        env.serve()
        auth = {"Authorization": f"Bearer {token}"}
        result = alternate(
            env,
            {
                "plain view, same 50 rows": {"path": "/bench/plain-tasks"},
                "GET /api/tasks?limit=50": {"path": "/api/tasks?limit=50", "headers": auth},
            },
            rounds=args.rounds,
            seconds=args.seconds,
        )
        report("GET /api/tasks?limit=50 vs a plain .values() view (1 gunicorn worker)", result,
               "plain view, same 50 rows")
        ratio = result["GET /api/tasks?limit=50"]["rps"] / result["plain view, same 50 rows"]["rps"]
        print(f"\n  ratio API/plain: {ratio:.2f}x (goal >= 0.50x)")


if __name__ == "__main__":
    main()
