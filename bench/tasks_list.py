"""Tasks bench: `GET /api/tasks?limit=50` (JWT auth, DRF, filters, pagination with a count,
envelope, camelCase) against a plain Django view returning the same 50 rows via .values() and
orjson — same gunicorn worker (core 0), same data, wrk on core 1, alternating runs.

A second gunicorn worker (also core 0) serves the same app with tracing on, exporting every
span over OTLP/HTTP to a collector stand-in in this process (core 1): the cost of tracing is the
ratio of the two. A third keeps 10% of the traces (OTEL_TRACES_SAMPLER_ARG=0.1). Tracing off is the first server; what it runs per request is a few boolean
tests, timed here directly.

Goals: the API at >= 0.7x of the plain view; tracing on costs <= 10%.

    .venv/bin/python bench/tasks_list.py [--seconds 5 --rounds 7 --tasks 200]
"""

import argparse
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BenchEnv, alternate, paired_ratio, report, tracing_off_cost_ns  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=7)
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
        from devtools.testing.tracing import OtlpCollector

        with OtlpCollector() as collector:
            env.serve()
            traced_port = env.serve(extra_env={"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
                                               "OTEL_SERVICE_NAME": "bench-tasks"})
            sampled_port = env.serve(extra_env={"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
                                                "OTEL_SERVICE_NAME": "bench-tasks-sampled",
                                                "OTEL_TRACES_SAMPLER_ARG": "0.1"})
            auth = {"Authorization": f"Bearer {token}"}
            result = alternate(
                env,
                {
                    "plain view, same 50 rows": {"path": "/bench/plain-tasks"},
                    "GET /api/tasks?limit=50": {"path": "/api/tasks?limit=50", "headers": auth},
                    "same, tracing on (OTLP)": {"path": "/api/tasks?limit=50", "headers": auth, "port": traced_port},
                    "same, tracing on, 10% kept": {"path": "/api/tasks?limit=50", "headers": auth, "port": sampled_port},
                },
                rounds=args.rounds,
                seconds=args.seconds,
            )
            env.stop()
            spans = collector.spans
        report("GET /api/tasks?limit=50 vs a plain .values() view (1 gunicorn worker)", result,
               "plain view, same 50 rows")
        api = result["GET /api/tasks?limit=50"]["rps"]
        ratio, low, high = paired_ratio(result, "GET /api/tasks?limit=50", "plain view, same 50 rows")
        traced, t_low, t_high = paired_ratio(result, "same, tracing on (OTLP)", "GET /api/tasks?limit=50")
        sampled, s_low, s_high = paired_ratio(result, "same, tracing on, 10% kept", "GET /api/tasks?limit=50")
        servers = sum(1 for s in spans if s.parent_id is None and s.name.startswith("GET")
                      and s.service == "bench-tasks")
        print(f"\n  ratio API/plain: {ratio:.2f}x (goal >= 0.70x), per round {low:.2f}-{high:.2f}")
        print(f"  tracing on costs {(1 - traced) * 100:.1f}% of the API's throughput (goal <= 10%), per round "
              f"{(1 - t_high) * 100:.1f}-{(1 - t_low) * 100:.1f}%; the collector received {len(spans)} spans, "
              f"{servers} request traces")
        print(f"  tracing on, 10% of traces kept (OTEL_TRACES_SAMPLER_ARG=0.1): costs {(1 - sampled) * 100:.1f}%, "
              f"per round {(1 - s_high) * 100:.1f}-{(1 - s_low) * 100:.1f}%")
        off_ns = tracing_off_cost_ns()
        per_request_ms = 1000 / api
        print(f"  tracing off: {off_ns:.0f} ns of tracing hooks per request "
              f"= {off_ns / 1e6 / per_request_ms * 100:.4f}% of a {per_request_ms:.2f} ms request")


if __name__ == "__main__":
    main()
