"""Foundation bench: a plain Django JSON view vs `GET /api/users/profile` (JWT auth, DRF,
serializer, envelope, camelCase) under gunicorn (1 worker, core 0), wrk on core 1, alternating.

    .venv/bin/python bench/api_vs_plain.py [--seconds 5 --rounds 7]
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BenchEnv, alternate, paired_ratio, report  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    with BenchEnv("foundation") as env:
        env.django_setup()
        from accounts.models import User
        from accounts.tokens import issue_pair

        user = User.objects.create_user(email="bench@example.com", password="Bench-Pass-123", name="Bench")
        token = issue_pair(user)["token"]
        env.serve()
        auth = {"Authorization": f"Bearer {token}"}
        result = alternate(
            env,
            {
                "plain view (baseline)": {"path": "/bench/plain"},
                "plain view + same row": {"path": "/bench/plain-profile"},
                "GET /api/users/profile": {"path": "/api/users/profile", "headers": auth},
            },
            rounds=args.rounds,
            seconds=args.seconds,
        )
        report("plain Django JSON vs API endpoint (1 gunicorn worker)", result, "plain view (baseline)")
        ratio, low, high = paired_ratio(result, "GET /api/users/profile", "plain view + same row")
        print(f"\n  ratio API/plain-with-same-row: {ratio:.2f}x (goal >= 0.80x), per round {low:.2f}-{high:.2f}")


if __name__ == "__main__":
    main()
