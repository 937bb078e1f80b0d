"""Outgoing webhooks bench: how long after COMMIT a signed delivery reaches a healthy receiver on
127.0.0.1 (goal: p95 <= 5 s), under load from many users, with the deployed path: the outbox row
written in the change's transaction, published after commit to Redis, a prefork Celery worker
(x2) sending, and the scan every 3 s as the safety net (beat's job, run here by a thread).

Each of `--users` users has one endpoint; `--threads` threads create tasks for them for
`--seconds` (each create is its own transaction); the receiver notes when each task's
`task.created` arrives. Also reported: a plain POST to the same receiver from this process (the
loopback floor, measured in the same run), lost events (committed, never received) and
webhook-ids received under more than one (event, endpoint).

    .venv/bin/python -m bench.webhooks [--users 64 --threads 16 --seconds 20 --concurrency 2 --redis-db 1]

(`-m`: run as a file, bench/ comes first on sys.path and bench/calendar.py hides the standard
library's `calendar`.)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PY, BenchEnv, Procs  # noqa: E402


class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        now = time.time()
        state = self.server.state
        try:
            task_id = json.loads(body)["data"]["id"]
        except (ValueError, KeyError, TypeError):
            task_id = None
        with state["lock"]:
            state["arrivals"].append((task_id, self.headers.get("webhook-id"), now))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=64)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--pause", type=float, default=0.25, help="mean pause between a thread's creates (s)")
    ap.add_argument("--concurrency", type=int, default=2, help="the worker's prefork processes")
    ap.add_argument("--worker-log", default="", help="write the worker's INFO log here")
    ap.add_argument("--redis-db", type=int, default=1, help="a Redis db nothing else flushes during the run")
    args = ap.parse_args()

    state = {"arrivals": [], "lock": threading.Lock()}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    httpd.daemon_threads = True
    httpd.state = state
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/hook"
    queue = f"bench-webhooks-{random.randrange(1 << 30):x}"
    from cryptography.fernet import Fernet

    extra = {
        "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32", "CELERY_QUEUE": queue, "CELERY_TASK_ALWAYS_EAGER": "0",
        "INTEGRATIONS_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        **({"WEBHOOK_RATE_PER_SECOND": os.environ["WEBHOOK_RATE_PER_SECOND"]} if "WEBHOOK_RATE_PER_SECOND" in os.environ else {}),
    }
    procs = Procs()
    with BenchEnv("webhooks", redis_db=args.redis_db, extra_env=extra) as env:
        env.django_setup()
        import requests
        from django.db import close_old_connections

        from accounts.models import User
        from integrations.webhooks import services as webhooks
        from integrations.webhooks.models import EndpointDelivery
        from tasks import services as task_services

        users = []
        for n in range(args.users):
            user = User.objects.create_user(email=f"hooks{n}@example.com", password="Bench-Pass-123", name=f"U{n}")
            webhooks.create_endpoint(user, url=url, event_types=["task.created"])
            users.append(user)
        procs.start(
            "celery",
            [PY, "-m", "celery", "-A", "deepiri", "worker", "-P", "prefork", "-c", str(args.concurrency), "-Q", queue,
             "-n", f"{queue}@%h", "-l", "INFO" if args.worker_log else "WARNING", "--without-gossip",
             "--without-mingle", "--without-heartbeat"],
            0, env.env,
            **({"stdout": open(args.worker_log, "w"), "stderr": subprocess.STDOUT} if args.worker_log else {}),  # noqa: SIM115
        )
        time.sleep(6)  # the worker's start

        # The loopback floor: the same receiver, a plain POST from here.
        floor = []
        for _ in range(200):
            started = time.perf_counter()
            requests.post(url, data=b'{"data":{"id":null}}', timeout=5)
            floor.append(time.perf_counter() - started)
        with state["lock"]:
            state["arrivals"].clear()

        committed: dict[str, float] = {}
        stop = time.monotonic() + args.seconds
        lock = threading.Lock()

        def create(k: int):
            rng = random.Random(k)
            try:
                while time.monotonic() < stop:
                    user = users[rng.randrange(len(users))]
                    task = task_services.create_task(user, title=f"bench {k}", understand=False)
                    at = time.time()  # create_task returned: its transaction committed
                    with lock:
                        committed[task.pk] = at
                    time.sleep(rng.expovariate(1 / args.pause))
            finally:
                close_old_connections()

        def scan():  # beat's 3 s scan, the safety net
            while time.monotonic() < stop + 120:
                webhooks.scan_due()
                time.sleep(3)
            close_old_connections()

        scanner = threading.Thread(target=scan, daemon=True)
        scanner.start()
        threads = [threading.Thread(target=create, args=(k,)) for k in range(args.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ended = time.time()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with state["lock"]:
                got = {task_id for task_id, _, _ in state["arrivals"]}
            if set(committed) <= got:
                break
            time.sleep(0.5)
        drained = time.time() - ended
        procs.stop()
        with state["lock"]:
            arrivals = list(state["arrivals"])
        first_arrival: dict[str, float] = {}
        for task_id, _, at in arrivals:
            first_arrival.setdefault(task_id, at)
        latencies = [first_arrival[t] - c for t, c in committed.items() if t in first_arrival]
        lost = len(set(committed) - set(first_arrival))
        ids_per_task: dict[str, set] = {}
        for task_id, hook_id, _ in arrivals:
            ids_per_task.setdefault(task_id, set()).add(hook_id)
        second_ids = sum(len(ids) - 1 for ids in ids_per_task.values())
        repeats = sum(n - 1 for n in Counter(h for _, h, _ in arrivals).values())
        deliveries = EndpointDelivery.objects.count()
        rows = list(EndpointDelivery.objects.values_list("duration_ms", "last_attempt_at"))
        durations = [d / 1000 for d, _ in rows if d is not None]
        stamps = sorted(at for _, at in rows if at is not None)
        span = (stamps[-1] - stamps[0]).total_seconds() if len(stamps) > 1 else float("nan")
    print(f"outgoing webhooks: {args.users} users, {args.threads} threads creating tasks for {args.seconds:.0f} s, "
          f"celery prefork x{args.concurrency}, scan every 3 s")
    print(f"  events committed {len(committed)} ({len(committed) / args.seconds:.1f}/s), deliveries {deliveries}, "
          f"received {len(first_arrival)} (the last {drained:.1f} s after the load ended), lost {lost}, "
          f"second webhook-ids {second_ids}, repeated sends {repeats}")
    print(f"  commit -> receipt: p50 {pct(latencies, 0.5) * 1000:.0f} ms, p95 {pct(latencies, 0.95) * 1000:.0f} ms, "
          f"max {max(latencies, default=float('nan')) * 1000:.0f} ms (goal p95 <= 5000 ms)")
    print(f"  one attempt (check, sign, POST): p50 {pct(durations, 0.5) * 1000:.0f} ms, "
          f"p95 {pct(durations, 0.95) * 1000:.0f} ms; the workers sent {len(stamps) / span:.1f}/s "
          f"from their first attempt to their last")
    print(f"  loopback floor (plain POST from here): p50 {statistics.median(floor) * 1000:.1f} ms, "
          f"p95 {pct(floor, 0.95) * 1000:.1f} ms; p95 ratio {pct(latencies, 0.95) / pct(floor, 0.95):.0f}x")


if __name__ == "__main__":
    main()
