"""Reminders bench: N reminders falling due spread over M minutes, fired by a real Celery worker
(prefork x2) and a real beat (the database scheduler, `tasks.fire_due_reminders` every
REMINDERS_SCAN_SECONDS). Reports the lag (sent - due) p50/p99/max, and lost/duplicated counts;
with `--kill-at S` the worker is SIGKILLed S seconds into the window and started again.

Goal (issue): p99 <= 60 s, p50 <= 20 s for 10,000 reminders over 10 minutes; 0 lost, 0 duplicated.

    .venv/bin/python bench/reminders.py [--reminders 10000 --minutes 10 --kill-at 120 --redis-db 5]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PY, BenchEnv, Procs  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reminders", type=int, default=10_000)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--kill-at", type=float, default=0.0, help="SIGKILL the worker this many seconds in (0: never)")
    ap.add_argument("--redis-db", type=int, default=14, help="a Redis db nothing else flushes during the run")
    args = ap.parse_args()
    queue = f"bench-reminders-{os.getpid()}"
    with BenchEnv("reminders", redis_db=args.redis_db, extra_env={"CELERY_QUEUE": queue, "DB_CONN_MAX_AGE": "60"}) as env:
        env.django_setup()
        from django.utils import timezone

        from accounts.models import User
        from notifications.models import Notification
        from tasks.models import Reminder, Task

        users = [
            User.objects.create_user(email=f"bench-rem-{n}@example.com", password="Bench-Pass-123", name=f"B{n}")
            for n in range(args.users)
        ]
        window = args.minutes * 60
        start = timezone.now() + timedelta(seconds=20)  # the worker and beat start meanwhile
        tasks, rems = [], []
        for n in range(args.reminders):
            due = start + timedelta(seconds=window * n / args.reminders)
            user = users[n % len(users)]
            task = Task(user=user, title=f"Task {n}", due_date=due)
            tasks.append(task)
            rems.append(Reminder(user=user, task=task, offset_seconds=0, channels=["in_app"], fire_at=due))
        Task.objects.bulk_create(tasks, batch_size=2000)
        Reminder.objects.bulk_create(rems, batch_size=2000)
        print(f"{args.reminders} reminders due from {start:%H:%M:%S} over {window:.0f} s, {args.users} users")

        procs = Procs()
        tmp = Path(tempfile.mkdtemp(prefix="bench-reminders-"))
        worker_cmd = [PY, "-m", "celery", "-A", "deepiri", "worker", "-P", "prefork", "-c", "2", "-Q", queue,
                      "-n", f"{queue}@%h", "-l", "WARNING", "--without-gossip", "--without-mingle"]
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        worker = procs.start("celery", worker_cmd, 0, env.env, **quiet)
        procs.start("beat", [PY, "-m", "celery", "--quiet", "-A", "deepiri", "beat", "-l", "WARNING",
                             "--scheduler", "kernel.beat:DatabaseScheduler", "--pidfile", str(tmp / "beat.pid")],
                    0, env.env, **quiet)
        killed = False
        try:
            deadline = start + timedelta(seconds=window + 180)
            while timezone.now() < deadline:
                time.sleep(2)
                if args.kill_at and not killed and timezone.now() >= start + timedelta(seconds=args.kill_at):
                    os.killpg(worker.pid, signal.SIGKILL)
                    worker.wait(10)
                    print(f"worker SIGKILLed at +{args.kill_at:.0f} s; starting another")
                    procs.procs = [(name, p) for name, p in procs.procs if p is not worker]
                    worker = procs.start("celery", worker_cmd, 0, env.env, **quiet)
                    killed = True
                if timezone.now() > start + timedelta(seconds=window) and not Reminder.objects.filter(
                    status="pending"
                ).exists():
                    break
        finally:
            procs.stop()
        rows = list(Reminder.objects.values_list("fire_at", "fired_at", "status", "fire_count"))
        lags = [(fired - due).total_seconds() for due, fired, status, _ in rows if status == "sent"]
        lost = sum(1 for _, _, status, _ in rows if status != "sent")
        doubled = sum(1 for *_, count in rows if count > 1)
        notes = Notification.objects.filter(type="task_reminder").count()
        print(f"sent {len(lags)}/{len(rows)}; lost {lost}; fired twice {doubled}; notifications {notes} "
              f"(duplicates {notes - len(lags)})")
        if lags:
            print(f"lag p50 {percentile(lags, 0.5):.1f} s, p99 {percentile(lags, 0.99):.1f} s, "
                  f"max {max(lags):.1f} s, mean {statistics.mean(lags):.1f} s (goal: p50 <= 20 s, p99 <= 60 s)")


if __name__ == "__main__":
    main()
