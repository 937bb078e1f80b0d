"""Personal access token vs JWT: the same signed-in request, `GET /api/users/profile`, under
gunicorn (1 worker, core 0), wrk on core 1, alternating per round. The figure is the cost ratio
(JWT req/s over PAT req/s, per round): goal <= 1.10x.

    .venv/bin/python bench/pat_auth.py [--seconds 5 --rounds 7] [--in-process 2000]

`--in-process N` also times N requests of each kind through Django's test client in this
process (no HTTP server, no load generator competing for the cores), alternating per round: the
steadier figure on a shared machine.

Uses Redis db 10 and the PostgreSQL database deepiri_bench_tokens unless BENCH_REDIS_URL /
BENCH_DATABASE_URL say otherwise.
"""

import argparse
import statistics
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BenchEnv, alternate, report  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--in-process", type=int, default=0, metavar="N")
    args = ap.parse_args()
    with BenchEnv("tokens", redis_db=10, extra_env={"THROTTLE_TOKEN": "100000000/min"}) as env:
        env.django_setup()
        from django.utils import timezone

        from accounts import personal_tokens
        from accounts.models import User
        from accounts.tokens import issue_pair

        user = User.objects.create_user(email="bench@example.com", password="Bench-Pass-123", name="Bench")
        jwt = issue_pair(user)["token"]
        _, pat = personal_tokens.create_token(
            user, name="bench", scopes=["profile:read"], expires_at=timezone.now() + timedelta(days=30)
        )
        if args.in_process:
            in_process(jwt, pat, args.in_process, args.rounds)
        env.serve()
        result = alternate(
            env,
            {
                "JWT (baseline)": {"path": "/api/users/profile", "headers": {"Authorization": f"Bearer {jwt}"}},
                "personal access token": {"path": "/api/users/profile", "headers": {"Authorization": f"Bearer {pat}"}},
            },
            rounds=args.rounds,
            seconds=args.seconds,
        )
        report("GET /api/users/profile: JWT vs personal access token (1 gunicorn worker)", result, "JWT (baseline)")
        costs = [
            j / p
            for j, p in zip(result["JWT (baseline)"]["rounds"], result["personal access token"]["rounds"], strict=True)
        ]
        print(
            f"\n  cost PAT/JWT: {statistics.median(costs):.3f}x (goal <= 1.10x), "
            f"per round {min(costs):.3f}-{max(costs):.3f}; errors {result['personal access token']['errors']}"
        )


def in_process(jwt: str, pat: str, n: int, rounds: int) -> None:
    import time

    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    headers = {"JWT": {"HTTP_AUTHORIZATION": f"Bearer {jwt}"}, "PAT": {"HTTP_AUTHORIZATION": f"Bearer {pat}"}}
    for extra in headers.values():  # warm the caches and the code paths
        for _ in range(50):
            assert client.get("/api/users/profile", **extra).status_code == 200
    costs = []
    for _ in range(rounds):
        spent = {}
        for name, extra in headers.items():
            start = time.perf_counter()
            for _ in range(n):
                client.get("/api/users/profile", **extra)
            spent[name] = time.perf_counter() - start
        costs.append(spent["PAT"] / spent["JWT"])
        print(f"  in-process round: JWT {spent['JWT'] / n * 1e6:.0f} us, PAT {spent['PAT'] / n * 1e6:.0f} us per request")
    print(
        f"\n  in-process cost PAT/JWT: {statistics.median(costs):.3f}x (goal <= 1.10x), "
        f"per round {min(costs):.3f}-{max(costs):.3f}\n"
    )


if __name__ == "__main__":
    main()
