"""Calendar feed bench: `GET /cal/{token}.ics` of a user with 1,000 tasks due in the feed's window
against `GET /api/tasks?limit=100` of the same user (the baseline), and the same feed answered
304 (If-None-Match) — one gunicorn worker (core 0), wrk on core 1, alternating runs.

The feed caches each rendered event in Redis (integrations/calendar/ics.py): the wrk runs see the
warm cache (every event rendered before), which is what a calendar app polling an unchanged or
slightly edited feed gets. The cold render (every event rendered by icalendar) is timed
in-process beside its warm counterpart, as is the render with one task edited.

Goals: feed of 1,000 tasks costs <= 3x the tasks page of 100; a 304 <= 0.2x a full render.

    .venv/bin/python bench/calendar_feed.py [--seconds 5 --rounds 5 --tasks 1000]
"""

import sys
from pathlib import Path

# This file is named like the standard library's `calendar`, which Django and the email package
# import: running it puts bench/ first on sys.path, so take bench/ off before importing anything.
_HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != _HERE]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from datetime import timedelta  # noqa: E402

import requests  # noqa: E402

from bench.common import BenchEnv, alternate, paired_ratio, report  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tasks", type=int, default=1000)
    args = ap.parse_args()
    limits = {"CALENDAR_FEED_PER_MINUTE": "100000000", "CALENDAR_FEED_IP_PER_MINUTE": "100000000",
              "INTEGRATIONS_PUBLIC_URL": "http://127.0.0.1"}
    with BenchEnv("calendar", extra_env=limits) as env:
        env.django_setup()
        from django.utils import timezone

        from accounts.models import User
        from accounts.tokens import issue_pair
        from integrations.calendar import ics
        from integrations.calendar import services as calendar_services
        from kernel.redis import get_redis, key
        from tasks import selectors as task_selectors
        from tasks.models import Task

        user = User.objects.create_user(email="bench-cal@example.com", password="Bench-Pass-123", name="Bench")
        user.timezone = "Europe/Berlin"
        user.save(update_fields=["timezone"])
        now = timezone.now()
        Task.objects.bulk_create(
            [
                Task(
                    user=user,
                    title=f"Task {i}: write the quarterly report section {i} 📊",
                    description="Collect the numbers, draft the text and ask for a review. " * 3,
                    type=("code", "study", "creative", "manual")[i % 4],
                    priority=("low", "medium", "high", "urgent")[i % 4],
                    status="completed" if i % 5 == 0 else "pending",
                    due_date=now + timedelta(hours=8 * i - 200),
                    due_date_only=i % 3 == 0,
                    estimated_duration=30 + i % 60,
                    tags=["work", f"q{i % 4 + 1}"],
                    completed_at=now if i % 5 == 0 else None,
                )
                for i in range(args.tasks)
            ]
        )
        feed, token = calendar_services.create_feed(user, "Bench")
        start, end = ics.window(timezone.now(), 14, 365)
        rows = task_selectors.due_between(user.pk, start, end, limit=2000)
        assert len(rows) == args.tasks, len(rows)

        # in-process: icalendar's cost per event, and what the cache saves
        def render():
            return ics.render(rows, tz=user.tzinfo, name="Bench", refresh=timedelta(hours=1))

        def flush():
            redis = get_redis()
            for name in redis.scan_iter(key("calendar", "events", "*")):
                redis.delete(name)

        cold, warm = [], []
        for _ in range(5):
            flush()
            t = time.perf_counter()
            body = render()
            cold.append(time.perf_counter() - t)
            t = time.perf_counter()
            render()
            warm.append(time.perf_counter() - t)
        one_edited = list(rows)
        first = one_edited[0]
        one_edited[0] = (first[0], first[1] + " (edited)", *first[2:])
        t = time.perf_counter()
        ics.render(one_edited, tz=user.tzinfo, name="Bench", refresh=timedelta(hours=1))
        edited_ms = (time.perf_counter() - t) * 1000
        print(f"\n== in-process render of {args.tasks} events ({len(body) // 1024} KiB): "
              f"cold {statistics.median(cold) * 1000:.1f} ms, warm {statistics.median(warm) * 1000:.1f} ms, "
              f"one task edited {edited_ms:.1f} ms")

        auth = {"Authorization": f"Bearer {issue_pair(user)['token']}"}
        env.serve()
        path = f"/cal/{token}.ics"
        full = requests.get(f"http://127.0.0.1:{env.port}{path}", timeout=30)
        assert full.status_code == 200 and full.content.count(b"BEGIN:VEVENT") == args.tasks, full.status_code
        etag = full.headers["ETag"]
        page = requests.get(f"http://127.0.0.1:{env.port}/api/tasks?limit=100", headers=auth, timeout=30)
        assert page.status_code == 200 and len(page.json()["data"]) == 100
        result = alternate(
            env,
            {
                "GET /api/tasks?limit=100": {"path": "/api/tasks?limit=100", "headers": auth},
                f"GET /cal/… ({args.tasks} events)": {"path": path},
                "same, If-None-Match (304)": {"path": path, "headers": {"If-None-Match": etag}},
            },
            rounds=args.rounds,
            seconds=args.seconds,
        )
        env.stop()
        report(f"calendar feed of {args.tasks} tasks vs the tasks page of 100 (1 gunicorn worker)", result,
               "GET /api/tasks?limit=100")
        feed_case = f"GET /cal/… ({args.tasks} events)"
        # cost = 1 / throughput: feed cost / list cost = list rps / feed rps
        ratio, low, high = paired_ratio(result, "GET /api/tasks?limit=100", feed_case)
        print(f"\n  feed cost / tasks page cost: {ratio:.2f}x (goal <= 3x), per round {low:.2f}-{high:.2f}")
        ratio, low, high = paired_ratio(result, feed_case, "same, If-None-Match (304)")
        print(f"  304 cost / full render cost: {ratio:.2f}x (goal <= 0.2x), per round {low:.2f}-{high:.2f}")


if __name__ == "__main__":
    main()
