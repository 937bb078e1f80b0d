"""Which WSGI server: gunicorn's sync workers, gunicorn's gthread workers, granian's WSGI mode.

One process each, all pinned to core 0, the same app and data; wrk on core 1 alternates between
them on two endpoints (the tasks list, the profile) with 16 connections, and a slow endpoint mix
is left out on purpose: this is about the server's own overhead and concurrency handling. Each
server first has to answer the endpoints byte-for-byte like the others (granian is only
compared when it serves the app correctly). Ratios are against gunicorn sync.

    .venv/bin/python bench/servers.py [--seconds 5 --rounds 3 --threads 4]
"""

import argparse
import sys
from datetime import timedelta
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BIN, BenchEnv, alternate, report  # noqa: E402

APP = "deepiri.wsgi:application"


def commands(threads: int) -> dict[str, list[str]]:
    gunicorn = [str(BIN / "gunicorn"), APP, "-b", "127.0.0.1:{port}", "-w", "1", "--log-level", "warning"]
    return {
        "gunicorn sync": gunicorn,
        f"gunicorn gthread x{threads}": [*gunicorn, "-k", "gthread", "--threads", str(threads)],
        f"granian wsgi x{threads}": [
            str(BIN / "granian"), "--interface", "wsgi", "--host", "127.0.0.1", "--port", "{port}", "--workers", "1",
            "--blocking-threads", str(threads), "--log-level", "warning", "--no-ws", APP,
        ],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--connections", type=int, default=16)
    args = ap.parse_args()
    with BenchEnv("servers") as env:
        env.django_setup()
        from django.utils import timezone

        from accounts.models import User
        from accounts.tokens import issue_pair
        from tasks.models import Task

        user = User.objects.create_user(email="bench-servers@example.com", password="Bench-Pass-123", name="Bench")
        now = timezone.now()
        Task.objects.bulk_create(
            [
                Task(user=user, title=f"Task {i}", description="Collect the numbers and draft the text. " * 3,
                     due_date=now + timedelta(days=i), estimated_duration=30, tags=["work"])
                for i in range(120)
            ]
        )
        auth = {"Authorization": f"Bearer {issue_pair(user)['token']}"}
        ports = {}
        for name, cmd in commands(args.threads).items():
            try:
                ports[name] = env.serve(cmd=cmd)
            except RuntimeError as exc:
                print(f"  {name}: did not start ({exc}); left out")
        reference = None
        for name, port in list(ports.items()):
            bodies = [requests.get(f"http://127.0.0.1:{port}{p}", headers=auth, timeout=5)
                      for p in ("/api/tasks?limit=50", "/api/users/profile")]
            shape = [(r.status_code, sorted(r.json()["data"][0] if isinstance(r.json()["data"], list)
                                            else r.json()["data"])) for r in bodies]
            reference = reference or shape
            if shape != reference or any(r.status_code != 200 for r in bodies):
                print(f"  {name}: answers differ ({shape}); left out")
                del ports[name]
        for path, label in (("/api/tasks?limit=50", "tasks list"), ("/api/users/profile", "profile")):
            cases = {name: {"path": path, "headers": auth, "port": port, "connections": args.connections}
                     for name, port in ports.items()}
            result = alternate(env, cases, rounds=args.rounds, seconds=args.seconds)
            report(f"{label}: one process each on core 0, {args.connections} connections", result, "gunicorn sync")


if __name__ == "__main__":
    main()
