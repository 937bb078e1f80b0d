"""One room of N connected sockets, one broadcast: how long until every client has it?

    .venv/bin/python bench/ws_broadcast.py [--clients 1000] [--rounds 7] [--layers core,pubsub,memory]

One daphne process per channel layer, each pinned to core 0 (production settings, DEBUG off;
bench/ws_settings.py picks the layer, nothing else differs), the clients (`websockets`, one
asyncio loop) pinned to core 1. All N sockets of a daphne join `challenge:<id>`; each round one of
them sends `challenge-update`, which goes through the consumer and the session service to one
`group_send` of a `progress-update` to the room, so the broadcast starts inside daphne and the
path is the same for every layer:

- core:   channels_redis.core.RedisChannelLayer
- pubsub: channels_redis.pubsub.RedisPubSubChannelLayer (the production choice)
- memory: channels.layers.InMemoryChannelLayer (the embedded default; single process only)

Broadcasts alternate between the layers (core, pubsub, memory, core, ...), so background load on
a shared machine hits them alike. Per broadcast: every client's delivery latency (send ->
receipt), as median and p95 over the N deliveries, the time until the last client has it, and
deliveries per second (N / time until the last). Printed figures are medians over the rounds,
plus the worst p95 of any round. Goal: median <= 800 ms, p95 <= 1.2 s.
Needs PostgreSQL and Redis (bench.common.BenchEnv creates database deepiri_bench_ws).
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


class Room:
    """N clients of one daphne, all in `challenge:<id>`."""

    def __init__(self, name, server, token, challenge_id, n_clients):
        self.name, self.server, self.token, self.challenge_id, self.n = name, server, token, challenge_id, n_clients
        self.arrivals: dict[int, list[float]] = {}
        self.done: dict[int, asyncio.Event] = {}
        self.sockets = []
        self.readers = []

    async def open(self):
        from websockets.asyncio.client import connect

        room = f"challenge:{self.challenge_id}"
        url = self.server.ws_url_for(self.token)
        sem = asyncio.Semaphore(50)

        async def open_one():
            async with sem:
                for attempt in range(5):
                    try:
                        ws = await connect(url, origin=self.server.origin, open_timeout=30, max_queue=None)
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

        started = time.perf_counter()
        self.sockets = await asyncio.gather(*(open_one() for _ in range(self.n)))
        self.connect_s = time.perf_counter() - started
        self.readers = [asyncio.ensure_future(self._read(ws)) for ws in self.sockets]

    async def _read(self, ws):
        async for raw in ws:
            now = time.perf_counter()
            if '"progress-update"' in raw:
                progress = json.loads(raw)["progress"]
                bucket = self.arrivals.setdefault(progress, [])
                bucket.append(now)
                if len(bucket) == self.n:
                    self.done[progress].set()

    async def broadcast(self, r: int) -> dict:
        self.done[r] = asyncio.Event()
        t0 = time.perf_counter()
        await self.sockets[0].send(
            json.dumps({"type": "challenge-update", "challengeId": self.challenge_id, "progress": r})
        )
        await asyncio.wait_for(self.done[r].wait(), 60)
        latencies = [(t - t0) * 1000 for t in self.arrivals[r]]
        last = max(latencies)
        return {
            "median_ms": statistics.median(latencies),
            "p95_ms": percentile(latencies, 0.95),
            "last_ms": last,
            "deliveries_per_s": self.n / (last / 1000),
        }

    async def close(self):
        for task in self.readers:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)


async def run_all(rooms: list[Room], rounds: int) -> dict[str, dict]:
    """Open every room, then broadcast round-robin (layer A, B, C, A, B, C, ...), so background
    load on the shared machine hits every layer alike."""
    for room in rooms:
        await room.open()
    samples: dict[str, list[dict]] = {room.name: [] for room in rooms}
    try:
        for r in range(1, rounds + 1):
            for room in rooms:
                await asyncio.sleep(0.3)  # let the previous broadcast settle
                samples[room.name].append(await room.broadcast(r))
    finally:
        for room in rooms:
            await room.close()
    out = {}
    for room in rooms:
        runs = samples[room.name]
        out[room.name] = {k: statistics.median(x[k] for x in runs) for k in runs[0]}
        out[room.name]["connect_s"] = room.connect_s
        out[room.name]["p95_of_rounds_ms"] = max(x["p95_ms"] for x in runs)
    return out


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
        from devtools.testing.daphne import DaphneServer

        token, challenge_id = setup_data()
        from kernel.redis import get_redis

        get_redis().flushdb()
        servers, rooms = [], []
        try:
            for name in layers:
                server = DaphneServer(
                    database_url=env.env["DATABASE_URL"],
                    cpu=0,
                    env={
                        **{k: v for k, v in env.env.items() if k != "ROOT_URLCONF"},
                        "DJANGO_SETTINGS_MODULE": "bench.ws_settings",
                        "BENCH_CHANNEL_LAYER": name,
                        "REDIS_KEY_PREFIX": f"bench-ws-{name}",
                    },
                    startup_timeout=30,
                ).start()
                servers.append(server)
                rooms.append(Room(name, server, token, challenge_id, args.clients))
            try:
                figures = asyncio.run(run_all(rooms, args.rounds))
            except Exception:
                for server in servers:
                    print(server.log(), file=sys.stderr)
                raise
        finally:
            for server in servers:
                server.close()
        print(
            f"\n== ws_broadcast: 1 daphne on one core, {args.clients} sockets in one room, 1 broadcast "
            f"(medians over {args.rounds} rounds)"
        )
        print(
            f"  {'layer':<8} {'median':>9} {'p95':>9} {'all have it':>12} {'deliveries/s':>13} {'worst p95':>10} {'connect':>8}"
        )
        for name, f in figures.items():
            print(
                f"  {name:<8} {f['median_ms']:>7.0f}ms {f['p95_ms']:>7.0f}ms {f['last_ms']:>10.0f}ms "
                f"{f['deliveries_per_s']:>13.0f} {f['p95_of_rounds_ms']:>8.0f}ms {f['connect_s']:>7.1f}s"
            )
        if "memory" in figures:
            base = figures["memory"]["deliveries_per_s"]
            for name, f in figures.items():
                print(f"  {name} / memory deliveries/s ratio: {f['deliveries_per_s'] / base:.2f}")


if __name__ == "__main__":
    main()
