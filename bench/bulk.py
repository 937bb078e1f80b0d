"""Bulk create bench: 100 tasks created by one `POST /api/tasks` with an array against the same
100 tasks created by 100 single `POST /api/tasks` (one keep-alive connection, one after another,
as a client replaying its offline queue would) — same gunicorn worker (core 0), same user, the
two alternating round by round. Both do the same per-task work after the commit (each task's
understanding and analytics jobs are published to the broker; no worker runs them here).

Figure: how many times faster the bulk request is (median of the per-round ratios).

    .venv/bin/python bench/bulk.py [--rounds 7 --items 100]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BenchEnv  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--items", type=int, default=100)
    ap.add_argument("--redis-db", type=int, default=14)
    args = ap.parse_args()
    with BenchEnv("bulk", redis_db=args.redis_db) as env:
        env.django_setup()
        from accounts.models import User
        from accounts.tokens import issue_pair

        user = User.objects.create_user(email="bench-bulk@example.com", password="Bench-Pass-123", name="Bench")
        token = issue_pair(user)["token"]
        env.serve()
        url = f"http://127.0.0.1:{env.port}/api/tasks"
        session = requests.Session()
        session.headers.update({"Authorization": f"Bearer {token}"})

        def items(round_no, kind):
            return [
                {"title": f"{kind} {round_no}.{i}: write the report section", "priority": "high", "tags": ["work", "q1"],
                 "dueDate": "2027-01-15", "estimatedDuration": 30}
                for i in range(args.items)
            ]

        def singles(round_no):
            start = time.perf_counter()
            for item in items(round_no, "single"):
                response = session.post(url, json=item, timeout=30)
                assert response.status_code == 201, response.text
            return time.perf_counter() - start

        def bulk(round_no):
            start = time.perf_counter()
            response = session.post(url, json=items(round_no, "bulk"), timeout=60)
            assert response.status_code == 207, response.text
            assert all(item["status"] == 201 for item in response.json()["data"])
            return time.perf_counter() - start

        singles(-1), bulk(-1)  # warm up (imports, connections, caches)
        ratios, single_times, bulk_times = [], [], []
        for round_no in range(args.rounds):
            if round_no % 2:
                b, s = bulk(round_no), singles(round_no)
            else:
                s, b = singles(round_no), bulk(round_no)
            single_times.append(s)
            bulk_times.append(b)
            ratios.append(s / b)
        env.stop()
        s_med, b_med = statistics.median(single_times), statistics.median(bulk_times)
        print(f"\n{args.items} task creates (1 gunicorn worker, {args.rounds} alternating rounds)")
        print(f"  {args.items} single POST /api/tasks:    median {s_med * 1000:8.1f} ms "
              f"({s_med / args.items * 1000:.2f} ms per task)")
        print(f"  1 POST /api/tasks with {args.items} items: median {b_med * 1000:8.1f} ms "
              f"({b_med / args.items * 1000:.2f} ms per task)")
        print(f"  ratio singles/bulk: {statistics.median(ratios):.1f}x faster in bulk, "
              f"per round {min(ratios):.1f}-{max(ratios):.1f}x")


if __name__ == "__main__":
    main()
