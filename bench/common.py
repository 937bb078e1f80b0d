"""Shared benchmark plumbing: a fresh database, gunicorn pinned to one core, wrk pinned to the
other, alternating runs, medians and ratios. Every figure is a ratio against a baseline measured
in the same run (never an absolute threshold in a test).

    from bench.common import BenchEnv
    with BenchEnv("tasks") as env:          # creates database deepiri_bench_tasks, migrates
        env.django_setup()                  # use the ORM in this process to load data
        env.serve()                         # gunicorn on env.port, pinned to core 0
        a = env.wrk("/bench/plain", ...)    # wrk pinned to core 1
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
BIN = ROOT / ".venv" / "bin"
CORES = os.cpu_count() or 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pin(cmd: list[str], core: int) -> list[str]:
    if shutil.which("taskset") and CORES > 1:
        return ["taskset", "-c", str(core % CORES), *cmd]
    return cmd


def parse_wrk(out: str) -> dict:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def to_ms(v, unit):
        return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {
        "rps": rps,
        "p50_ms": to_ms(*p50.groups()) if p50 else None,
        "p99_ms": to_ms(*p99.groups()) if p99 else None,
        "errors": int(non2xx.group(1)) if non2xx else 0,
    }


class BenchEnv:
    def __init__(self, name: str, *, redis_db: int = 14, extra_env: dict | None = None):
        self.name = name
        self.db = f"deepiri_bench_{name}"
        self.port = free_port()
        self.env = {
            **os.environ,
            "DEBUG": "0",
            "SECRET_KEY": "bench-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{self.db}"),
            "REDIS_URL": os.environ.get("BENCH_REDIS_URL", f"redis://127.0.0.1:6379/{redis_db}"),
            "REDIS_KEY_PREFIX": f"bench-{name}",
            "ROOT_URLCONF": "bench.urls",
            "THROTTLE_USER": "100000000/min",
            "THROTTLE_ANON": "100000000/min",
            "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "deepiri.settings",
            "EMAIL_URL": "log://",  # production settings refuse the console mail backend
            "PYTHONPATH": str(ROOT),
            **(extra_env or {}),
        }
        self.server = None
        self.extra_servers: list[subprocess.Popen] = []

    # -- lifecycle -----------------------------------------------------------------------------
    def __enter__(self):
        if CORES > 1 and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {1})  # this process (a collector stand-in, the ORM) beside the load generator
        self.recreate_db()
        subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=self.env, check=True)
        return self

    def __exit__(self, *exc):
        self.stop()
        if not os.environ.get("BENCH_KEEP_DB"):
            self.drop_db()

    def recreate_db(self):
        self.drop_db()
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f'CREATE DATABASE "{self.db}"'], check=True)

    def drop_db(self):
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)'],
            check=True,
            capture_output=True,
        )

    def django_setup(self):
        os.environ.update(self.env)
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()

    # -- server --------------------------------------------------------------------------------
    def serve(self, *, workers: int = 1, core: int = 0, app: str = "deepiri.wsgi:application",
              cmd: list[str] | None = None, extra_env: dict | None = None, port: int | None = None,
              health: str = "/api/health/live") -> int:
        """Start a server pinned to `core` and wait until it answers; returns its port. The first
        server is `env.port` (what `wrk()` targets by default); more may be started on their own
        ports (`cmd` is the full command line, `{port}` in it is replaced), e.g. the same app
        with other settings or under another server, to compare them in one run."""
        port = port or (self.port if self.server is None else free_port())
        if cmd is None:
            cmd = [str(BIN / "gunicorn"), app, "-b", f"127.0.0.1:{port}", "-w", str(workers), "--log-level", "warning"]
        else:
            cmd = [part.replace("{port}", str(port)) for part in cmd]
        proc = subprocess.Popen(pin(cmd, core), cwd=ROOT, env={**self.env, **(extra_env or {})}, start_new_session=True)
        if self.server is None:
            self.server = proc
        else:
            self.extra_servers.append(proc)
        deadline = time.time() + 30
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {cmd}")
            try:
                requests.get(f"http://127.0.0.1:{port}{health}", timeout=1)
                return port
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError(f"server did not start: {cmd}")

    def stop(self):
        for proc in [self.server, *self.extra_servers]:
            if proc and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(5)
        self.server = None
        self.extra_servers = []

    # -- load ----------------------------------------------------------------------------------
    def wrk(self, path: str, *, headers: dict | None = None, seconds: int = 5, connections: int = 8, core: int = 1,
            port: int | None = None) -> dict:
        cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
        for k, v in (headers or {}).items():
            cmd += ["-H", f"{k}: {v}"]
        cmd.append(f"http://127.0.0.1:{port or self.port}{path}")
        out = subprocess.run(pin(cmd, core), capture_output=True, text=True, check=True).stdout
        return parse_wrk(out)


def tracing_off_cost_ns(calls: int = 200_000) -> float:
    """What tracing costs a request when it is off: the hooks one API request runs (the log
    filter's trace id, the request-id attribute, an error envelope's trace id, a domain span),
    timed in this process where tracing is off. Returns nanoseconds per request."""
    import timeit

    from kernel import tracing

    assert not tracing.ENABLED

    def hooks():
        tracing.set_attributes(a=1)
        tracing.current_trace_id()
        with tracing.span("x", a=1):
            pass

    return min(timeit.repeat(hooks, number=calls, repeat=3)) / calls * 1e9


def alternate(env: BenchEnv, cases: dict[str, dict], rounds: int = 3, seconds: int = 5) -> dict[str, dict]:
    """Run each case (name -> wrk kwargs incl. path) in turn, `rounds` times; medians per case."""
    samples: dict[str, list] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, kwargs in cases.items():
            kwargs = dict(kwargs)
            path = kwargs.pop("path")
            samples[name].append(env.wrk(path, seconds=seconds, **kwargs))
    result = {}
    for name, runs in samples.items():
        result[name] = {
            "rps": statistics.median(r["rps"] for r in runs),
            "p50_ms": statistics.median(r["p50_ms"] for r in runs if r["p50_ms"] is not None),
            "p99_ms": statistics.median(r["p99_ms"] for r in runs if r["p99_ms"] is not None),
            "errors": sum(r["errors"] for r in runs),
            "rounds": [r["rps"] for r in runs],
        }
    return result


def paired_ratio(result: dict[str, dict], case: str, baseline: str) -> tuple[float, float, float]:
    """(median, lowest, highest) of the per-round ratios case/baseline. Each round measures both
    within seconds of each other, so a ratio per round cancels the drift of a shared machine (a
    neighbour's burst, CPU steal) that a ratio of two medians taken minutes apart would keep."""
    ratios = [c / b for c, b in zip(result[case]["rounds"], result[baseline]["rounds"], strict=True)]
    return statistics.median(ratios), min(ratios), max(ratios)


def report(title: str, result: dict[str, dict], baseline: str) -> None:
    print(f"\n== {title}")
    base = result[baseline]["rps"]
    for name, r in result.items():
        print(f"  {name:<28} {r['rps']:>9.0f} req/s  p50 {r['p50_ms']:.2f} ms  p99 {r.get('p99_ms', 0):.2f} ms  "
              f"errors {r['errors']}  ratio {r['rps'] / base:.2f}x")
