"""One room, half of its sockets on `/ws/` and half on `/socket.io/`, one broadcast: what does
the Socket.IO framing cost against our own JSON protocol?

    .venv/bin/python bench/socketio_broadcast.py [--clients 500] [--rounds 9]

One daphne (production settings, the pub/sub channel layer) pinned to core 0, the clients (one
asyncio loop, `websockets`) pinned to core 1. The Socket.IO clients speak Engine.IO v4 frames
directly (open, `40{token}`, pongs), so both kinds of client cost the same on the client side and
the difference is the server's. Every socket joins `challenge:<id>`; each round one `/ws/` socket
sends `challenge-update`, so both halves receive the same `progress-update` from one
`group_send`, in the same broadcast. Per round: the median and p95 delivery latency of each half
and the time until each half has it all. Printed: medians over the rounds and the Socket.IO / ws
ratios (the baseline is the `/ws/` half of the same broadcasts).
Needs PostgreSQL and Redis (bench.common.BenchEnv creates database deepiri_bench_sio).
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
from bench.ws_broadcast import percentile, setup_data  # noqa: E402


class Half:
    def __init__(self, kind: str, server, token: str, challenge_id: str, n: int):
        self.kind, self.server, self.token, self.challenge_id, self.n = kind, server, token, challenge_id, n
        self.arrivals: dict[int, list[float]] = {}
        self.done: dict[int, asyncio.Event] = {}
        self.sockets = []
        self.readers = []

    @property
    def room(self) -> str:
        return f"challenge:{self.challenge_id}"

    async def _open_ws(self):
        from websockets.asyncio.client import connect

        ws = await connect(self.server.ws_url_for(self.token), origin=self.server.origin, open_timeout=30, max_queue=None)
        while json.loads(await ws.recv())["type"] != "connected":
            pass
        await ws.send(json.dumps({"type": "join-room", "room": self.room}))
        while json.loads(await ws.recv())["type"] != "room-joined":
            pass
        return ws

    async def _open_sio(self):
        from websockets.asyncio.client import connect

        url = f"ws://127.0.0.1:{self.server.port}/socket.io/?EIO=4&transport=websocket"
        ws = await connect(url, origin=self.server.origin, open_timeout=30, max_queue=None)
        assert (await ws.recv()).startswith("0")
        await ws.send("40" + json.dumps({"token": self.token}))
        while not (await ws.recv()).startswith("40"):
            pass
        await ws.send("421" + json.dumps(["join-room", {"room": self.room}]))
        while not (await ws.recv()).startswith("431"):
            pass
        return ws

    async def open(self):
        sem = asyncio.Semaphore(50)
        opener = self._open_ws if self.kind == "ws" else self._open_sio

        async def one():
            async with sem:
                for attempt in range(5):
                    try:
                        return await opener()
                    except Exception:
                        if attempt == 4:
                            raise
                        await asyncio.sleep(0.5 * (attempt + 1))

        self.sockets = await asyncio.gather(*(one() for _ in range(self.n)))
        self.readers = [asyncio.ensure_future(self._read(ws)) for ws in self.sockets]

    async def _read(self, ws):
        async for raw in ws:
            now = time.perf_counter()
            if raw == "2":
                await ws.send("3")
                continue
            if '"progress-update"' not in raw:
                continue
            if self.kind == "ws":
                progress = json.loads(raw)["progress"]
            else:
                name, event = json.loads(raw[2:])
                if name != "progress-update":
                    continue
                progress = event["progress"]
            bucket = self.arrivals.setdefault(progress, [])
            bucket.append(now)
            if len(bucket) == self.n:
                self.done[progress].set()

    def figures(self, r: int, t0: float) -> dict:
        latencies = [(t - t0) * 1000 for t in self.arrivals[r]]
        return {"median_ms": statistics.median(latencies), "p95_ms": percentile(latencies, 0.95), "last_ms": max(latencies)}

    async def close(self):
        for task in self.readers:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)


async def run(server, token, challenge_id, clients: int, rounds: int) -> dict:
    halves = [Half("ws", server, token, challenge_id, clients // 2), Half("sio", server, token, challenge_id, clients // 2)]
    for half in halves:
        await half.open()
    samples = {"ws": [], "sio": []}
    try:
        for r in range(1, rounds + 1):
            await asyncio.sleep(0.3)
            for half in halves:
                half.done[r] = asyncio.Event()
            t0 = time.perf_counter()
            await halves[0].sockets[0].send(
                json.dumps({"type": "challenge-update", "challengeId": challenge_id, "progress": r})
            )
            await asyncio.wait_for(asyncio.gather(*(h.done[r].wait() for h in halves)), 60)
            for half in halves:
                samples[half.kind].append(half.figures(r, t0))
    finally:
        for half in halves:
            await half.close()
    return {kind: {k: statistics.median(x[k] for x in runs) for k in runs[0]} for kind, runs in samples.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})
    with BenchEnv("sio", redis_db=int(os.environ.get("BENCH_REDIS_DB", "5"))) as env:
        env.django_setup()
        from devtools.testing.daphne import DaphneServer
        from kernel.redis import get_redis

        token, challenge_id = setup_data()
        get_redis().flushdb()
        server = DaphneServer(
            database_url=env.env["DATABASE_URL"],
            cpu=0,
            env={
                **{k: v for k, v in env.env.items() if k != "ROOT_URLCONF"},
                "DJANGO_SETTINGS_MODULE": "bench.ws_settings",
                "BENCH_CHANNEL_LAYER": "pubsub",
                "REDIS_KEY_PREFIX": "bench-sio",
            },
            startup_timeout=30,
        ).start()
        try:
            figures = asyncio.run(run(server, token, challenge_id, args.clients, args.rounds))
        except Exception:
            print(server.log(), file=sys.stderr)
            raise
        finally:
            server.close()
    print(
        f"\n== socketio_broadcast: 1 daphne on one core, {args.clients // 2} /ws/ + {args.clients // 2} "
        f"/socket.io/ sockets in one room, 1 broadcast (medians over {args.rounds} rounds)"
    )
    print(f"  {'endpoint':<11} {'median':>9} {'p95':>9} {'all have it':>12}")
    for kind, f in figures.items():
        print(f"  {kind:<11} {f['median_ms']:>7.0f}ms {f['p95_ms']:>7.0f}ms {f['last_ms']:>10.0f}ms")
    ws, sio = figures["ws"], figures["sio"]
    print(f"  socket.io / ws: median {sio['median_ms'] / ws['median_ms']:.2f}, all-have-it {sio['last_ms'] / ws['last_ms']:.2f}")


if __name__ == "__main__":
    main()
