"""One room of N connected sockets, one broadcast: how long until every client has it?

    .venv/bin/python bench/ws_broadcast.py [--clients 1000] [--rounds 7] [--layers core,pubsub,memory]

One daphne process pinned to core 0 (production settings, DEBUG off), the clients (`websockets`,
one asyncio loop) pinned to core 1. All N sockets join `challenge:<id>`; each round one of them
sends `challenge-update`, which goes through the consumer and the session service to one
`group_send` of a `progress-update` to the room, so the broadcast starts inside daphne and the
path is the same for every channel layer:

- core:   channels_redis.core.RedisChannelLayer (production default)
- pubsub: channels_redis.pubsub.RedisPubSubChannelLayer
- memory: channels.layers.InMemoryChannelLayer (the embedded default; single process only)

Per round: the delivery latency of every client (send -> receipt), reported as median and p95
over all deliveries, the time until the last client has it, and deliveries per second
(N / time-until-last). Figures are medians over the rounds. Goal (issue 5): median <= 800 ms,
p95 <= 1.2 s with the production layer. Needs PostgreSQL and Redis (bench.common.BenchEnv).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import BenchEnv  # noqa: E402

LAYERS = {
    "core": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
    "memory": "channels.layers.InMemoryChannelLayer",
}


def setup_data():
    from accounts.models import User
    from accounts.tokens import issue_pair
    from challenges.models import Challenge
    from tasks.models import Task

    user = User.objects.filter(email="bench-ws@example.com").first() or User.objects.create_user(
        email="bench-ws@example.com", password="Bench-Passw0rd!", name="Bench"
    )
    task = Task.objects.create(user=user, title="bench task", estimated_duration=30)
    challenge = Challenge.objects.create(
        user=user, task=task, type="timed_completion", title="bench", status="active", configuration={"time_limit": 60}
    )
    return issue_pair(user)["token"], challenge.pk


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


async def run_layer(server, token, challenge_id, n_clients, rounds):
    from websockets.asyncio.client import connect

    room = f"challenge:{challenge_id}"
    url = server.ws_url_for(token)
    arrivals: dict[int, list[float]] = {}
    done: dict[int, asyncio.Event] = {}
    sockets = []
    connect_sem = asyncio.Semaphore(50)

    async def reader(ws):
        async for raw in ws:
            now = time.perf_counter()
            if '"progress-update"' in raw:
                progress = json.loads(raw)["progress"]
                bucket = arrivals.setdefault(progress, [])
                bucket.append(now)
                if len(bucket) == n_clients:
                    done[progress].set()

    async def open_one():
        async with connect_sem:
            for attempt in range(5):
                try:
                    ws = await connect(url, origin=server.origin, open_timeout=30, max_queue=None)
                    break
                except Exception:
                    if attempt == 4:
                        raise
                    await asyncio.sleep(0.5 * (attempt + 1))
            while json.loads(await ws.recv())["type"] != "connected":
                pass
            await ws.send(json.dumps({"type": "join-room", "room": room}))
            while json.loads(await ws.recv())["type"] != "room-joined":
                pass
            return ws

    t_connect = time.perf_counter()
    sockets = await asyncio.gather(*(open_one() for _ in range(n_clients)))
    connect_seconds = time.perf_counter() - t_connect
    readers = [asyncio.ensure_future(reader(ws)) for ws in sockets]
    results = []
    try:
        for r in range(1, rounds + 1):
            done[r] = asyncio.Event()
            await asyncio.sleep(0.3)  # let the previous round settle
            t0 = time.perf_counter()
            await sockets[0].send(json.dumps({"type": "challenge-update", "challengeId": challenge_id, "progress": r}))
            await asyncio.wait_for(done[r].wait(), 60)
            latencies = [(t - t0) * 1000 for t in arrivals[r]]
            last = max(latencies)
            results.append(
                {
                    "median_ms": statistics.median(latencies),
                    "p95_ms": percentile(latencies, 0.95),
                    "last_ms": last,
                    "deliveries_per_s": n_clients / (last / 1000),
                }
            )
    finally:
        for task in readers:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    summary = {k: statistics.median(r[k] for r in results) for k in results[0]}
    summary["connect_s"] = connect_seconds
    summary["rounds"] = results
    return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--layers", default="core,pubsub,memory")
    args = parser.parse_args()
    layers = [name.strip() for name in args.layers.split(",") if name.strip()]

    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})  # clients on core 1, daphne on core 0
    with BenchEnv("ws", redis_db=int(os.environ.get("BENCH_REDIS_DB", "5"))) as env:
        env.django_setup()
        from deepiri.testing.daphne import DaphneServer

        token, challenge_id = setup_data()
        figures = {}
        for name in layers:
            from deepiri.redis import get_redis

            get_redis().flushdb()
            server = DaphneServer(
                database_url=env.env["DATABASE_URL"],
                cpu=0,
                env={
                    **{k: v for k, v in env.env.items() if k != "ROOT_URLCONF"},
                    "DEEPIRI_TESTING": "0",
                    "DJANGO_SETTINGS_MODULE": "bench.ws_settings",
                    "BENCH_CHANNEL_LAYER": name,
                },
                startup_timeout=30,
            )
            with server:
                try:
                    figures[name] = asyncio.run(run_layer(server, token, challenge_id, args.clients, args.rounds))
                except Exception:
                    print(server.log(), file=sys.stderr)
                    raise
            f = figures[name]
            print(
                f"{name:<7} {args.clients} clients: median {f['median_ms']:.0f} ms  p95 {f['p95_ms']:.0f} ms  "
                f"last {f['last_ms']:.0f} ms  {f['deliveries_per_s']:.0f} deliveries/s  (connect {f['connect_s']:.1f} s)",
                flush=True,
            )
        print(f"\n== ws_broadcast: 1 daphne on one core, {args.clients} sockets in one room, 1 broadcast "
              f"(medians over {args.rounds} rounds)")
        print(f"  {'layer':<8} {'median':>9} {'p95':>9} {'all have it':>12} {'deliveries/s':>13}")
        for name, f in figures.items():
            print(f"  {name:<8} {f['median_ms']:>7.0f}ms {f['p95_ms']:>7.0f}ms {f['last_ms']:>10.0f}ms {f['deliveries_per_s']:>13.0f}")
        if "memory" in figures:
            base = figures["memory"]["deliveries_per_s"]
            for name, f in figures.items():
                print(f"  {name} / memory deliveries/s ratio: {f['deliveries_per_s'] / base:.2f}")


if __name__ == "__main__":
    main()
