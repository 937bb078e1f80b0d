"""Load bench: 64 signed-in users (locust, bench/locustfile.py) through the nginx gateway
against the production shape — DEBUG=0, gunicorn (web), daphne (ws), a Celery worker, on
PostgreSQL, Redis and a MongoDB wire server (nx-27017), the AI service a fake on 127.0.0.1.

The app's processes (gunicorn, daphne, the Celery worker) are pinned to core 0; nginx, locust,
this process (the AI fake and an OTLP collector stand-in) and nx-27017 to core 1. nx-27017 stands
in for the MongoDB server, which is a service of its own like PostgreSQL and Redis (the machine's,
not pinned; measured on the second core almost always): on the app's core, this Python stand-in
for a C++ server took 15% of it. The worker runs at nice 10, as the compose file gives it a
tenth of a web container's CPU weight (`cpu_shares`): background jobs yield a shared core to
requests. Tracing is on in
every app process at a sampling ratio (`--sample`), exporting to the stand-in: after the run the
sampled traces say where each endpoint's time goes (SQL, Redis, MongoDB, outbound HTTP, the
rest in Python).

Reports requests/s, p50/p95/p99 and errors per endpoint (locust's own percentiles), and checks
the goals: zero errors; p99 <= 4x p50 on every endpoint but challenge generation. The same
percentiles are then read from the gateway's access log (nginx's request_time and the upstream's
time, every request, not sampled), beside the busy share of each core, the CPU each started
process used, and the p50/p99 of the sampled request spans: a request span's p99 far below the
gateway's says the time went to waiting for a worker or the core, not to the request's own work.

    .venv/bin/python bench/load.py [--users 64 --seconds 180 --warmup 20 --think 0.5,2.0 --sample 0.2]
                                   [--worker-class sync --web-workers 3 | --worker-class gthread --threads 4] [--worker-nice 10]
                                   [--worker-core 0]  (1: the Celery worker off the web's core)

The gateway's config is deploy/nginx/deepiri.conf when the repo has it (rendered like the
deployment does), otherwise an equivalent minimal one.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BIN, PY, ROOT, BenchEnv, free_port, pin  # noqa: E402

NGINX_TEMPLATE = ROOT / "deploy" / "nginx" / "deepiri.conf"
MINIMAL_SITE = """
upstream deepiri_web { ${DEEPIRI_WEB_SERVERS} keepalive 32; }
upstream deepiri_ws { ${DEEPIRI_WS_SERVERS} }
map $http_upgrade $deepiri_connection_upgrade { default upgrade; "" ""; }
server {
    listen ${DEEPIRI_LISTEN};
    access_log ${DEEPIRI_ACCESS_LOG};
    client_max_body_size ${DEEPIRI_MAX_BODY_BYTES};
    proxy_http_version 1.1;
    proxy_set_header Host $http_host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection $deepiri_connection_upgrade;
    location ^~ /ws/ { proxy_pass http://deepiri_ws; proxy_read_timeout 1h; }
    location / { proxy_pass http://deepiri_web; }
}
"""
NO_CHALLENGE_GOAL = "POST /api/challenges/generate"


class Procs:
    """The processes this bench starts, stopped (whole process groups) in reverse order."""

    def __init__(self):
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(self, name, cmd, core, env, **kwargs):
        proc = subprocess.Popen(pin(cmd, core), cwd=ROOT, env=env, start_new_session=True, **kwargs)
        self.procs.append((name, proc))
        return proc

    def stop(self):
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for _name, proc in reversed(self.procs):
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        self.procs = []


def wait_http(url, proc, what, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited ({proc.returncode})")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer at {url}")


def render_nginx(tmp: Path, listen: int, web_port: int, ws_port: int) -> Path:
    template = NGINX_TEMPLATE.read_text() if NGINX_TEMPLATE.exists() else MINIMAL_SITE
    values = {
        "DEEPIRI_LISTEN": f"127.0.0.1:{listen}",
        "DEEPIRI_WEB_SERVERS": f"server 127.0.0.1:{web_port};",
        "DEEPIRI_WS_SERVERS": f"server 127.0.0.1:{ws_port};",
        "DEEPIRI_MAX_BODY_BYTES": str(1024 * 1024),
        "DEEPIRI_ACCESS_LOG": str(tmp / "access.log"),
    }
    for key, value in values.items():
        template = template.replace("${" + key + "}", value)
    (tmp / "deepiri.conf").write_text(template)
    for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / d).mkdir(exist_ok=True)
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"""user root;
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
    include {tmp}/deepiri.conf;
}}
"""
    )
    return conf


def web_command(args, port: int) -> tuple[list[str], dict]:
    """gunicorn as deployed (deploy/gunicorn.conf.py, read from GUNICORN_* variables) when the
    repo has that file; the same options on the command line otherwise."""
    threads = args.threads if args.worker_class == "gthread" else 1
    conf = ROOT / "deploy" / "gunicorn.conf.py"
    if conf.exists():
        env = {
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_WORKERS": str(args.web_workers),
            "GUNICORN_WORKER_CLASS": args.worker_class,
            "GUNICORN_THREADS": str(threads),
        }
        return [str(BIN / "gunicorn"), "-c", str(conf), "deepiri.wsgi:application"], env
    cmd = [
        str(BIN / "gunicorn"),
        "deepiri.wsgi:application",
        "-b",
        f"127.0.0.1:{port}",
        "-w",
        str(args.web_workers),
        "-k",
        args.worker_class,
        "--threads",
        str(threads),
        "--log-level",
        "warning",
        "--keep-alive",
        "75",
    ]
    return cmd, {}


def seed(users: int, tasks_per_user: int) -> list[str]:
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group

    from accounts.models import User
    from accounts.tokens import issue_pair
    from tasks.models import Task

    hashed = make_password("Bench-Pass-123")
    people = User.objects.bulk_create(
        [User(email=f"load{i}@example.com", name=f"Load User {i}", password=hashed) for i in range(users)]
    )
    group, _ = Group.objects.get_or_create(name="user")
    group.user_set.add(*people)
    Task.objects.bulk_create(
        [
            Task(
                user=u,
                title=f"Task {n} of {u.name}",
                description="Collect the numbers and draft the text.",
                estimated_duration=30,
                tags=["work"],
            )
            for u in people
            for n in range(tasks_per_user)
        ]
    )
    return [issue_pair(u)["token"] for u in people]


def run_locust(args, host: str, tokens_file: Path, seconds: int, csv_prefix: Path, users: int) -> None:
    cmd = [
        str(BIN / "locust"),
        "-f",
        str(ROOT / "bench" / "locustfile.py"),
        "--headless",
        "-u",
        str(users),
        "-r",
        str(max(1, users // 4)),
        "-t",
        f"{seconds}s",
        "--host",
        host,
        "--csv",
        str(csv_prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--stop-timeout",
        "10",
    ]
    env = {**os.environ, "BENCH_TOKENS": str(tokens_file), "BENCH_THINK": args.think}
    subprocess.run(pin(cmd, 1), cwd=ROOT, env=env, check=False, stdout=subprocess.DEVNULL)


def read_stats(csv_prefix: Path) -> list[dict]:
    with open(f"{csv_prefix}_stats.csv") as f:
        return list(csv.DictReader(f))


def tail_goal(name: str, ratio: float, errors: int = 0) -> tuple[bool, str]:
    """The per-endpoint goal: p99 <= 4x p50 and no errors; challenge generation is reported apart."""
    if name == NO_CHALLENGE_GOAL:
        return True, "(reported separately)"
    met = ratio <= 4 and errors == 0
    return met, "p99<=4xp50 " + ("ok" if met else "MISSED")


def report_stats(rows: list[dict], seconds: int) -> bool:
    print(f"\n== {seconds}s of load through the gateway, per endpoint (locust)")
    print(
        f"  {'endpoint':<38} {'requests':>8} {'errors':>6} {'req/s':>7} {'p50':>6} {'p95':>6} {'p99':>6} "
        f"{'p99/p50':>7}  goal"
    )
    ok = True
    for row in rows:
        name = row["Name"]
        p50, p95, p99 = (float(row[k] or 0) for k in ("50%", "95%", "99%"))
        errors = int(row["Failure Count"])
        ratio = p99 / p50 if p50 else float("inf")
        if name == "Aggregated":
            goal = "zero errors" + (" ok" if errors == 0 else " MISSED")
            ok &= errors == 0
        else:
            met, goal = tail_goal(name, ratio, errors)
            ok &= met
        print(
            f"  {name:<38} {row['Request Count']:>8} {errors:>6} {float(row['Requests/s']):>7.1f} "
            f"{p50:>6.0f} {p95:>6.0f} {p99:>6.0f} {ratio:>7.1f}  {goal}"
        )
    print("  (times in ms)")
    return ok


ID_SEGMENT = re.compile(r"/[0-9a-f]{24}(?=/|$)")


def gateway_rows(log: Path, offset: int) -> list[dict]:
    """The gateway's own view of every request after `offset` in its JSON access log:
    `request_time` (first byte from the client to the last byte sent back) and the upstream's
    response time, per endpoint. Unlike locust's figures, these leave out the load generator's
    own scheduling (locust shares a core with nginx and the data servers)."""
    by_name: dict[str, dict[str, list[float]]] = defaultdict(lambda: {"total": [], "upstream": []})
    with open(log, "rb") as f:
        f.seek(offset)
        for line in f:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            path = ID_SEGMENT.sub("/{id}", entry["uri"].split("?", 1)[0])
            if path.startswith("/api/health"):
                continue
            times = by_name[f"{entry['method']} {path}"]
            times["total"].append(float(entry["request_time"]) * 1000)
            upstream = entry["upstream_time"].split(",")[-1].strip()
            if upstream and upstream != "-":
                times["upstream"].append(float(upstream) * 1000)
    return [{"name": name, **times} for name, times in sorted(by_name.items())]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def report_gateway(rows: list[dict]) -> bool:
    print("\n== the same run at the gateway (nginx access log: request_time; upstream = gunicorn/daphne)")
    print(
        f"  {'endpoint':<38} {'requests':>8} {'p50':>6} {'p95':>6} {'p99':>6} {'p99/p50':>7}"
        f" {'up p50':>6} {'up p99':>6}  goal"
    )
    ok = True
    for row in rows:
        total, upstream = row["total"], row["upstream"]
        p50, p95, p99 = (_pct(total, q) for q in (0.5, 0.95, 0.99))
        ratio = p99 / p50 if p50 else float("inf")
        met, goal = tail_goal(row["name"], ratio)
        ok &= met
        print(
            f"  {row['name']:<38} {len(total):>8} {p50:>6.0f} {p95:>6.0f} {p99:>6.0f} {ratio:>7.1f}"
            f" {_pct(upstream, 0.5):>6.0f} {_pct(upstream, 0.99):>6.0f}  {goal}"
        )
    print("  (times in ms)")
    return ok


class CpuSampler(threading.Thread):
    """Busy share of each core, from /proc/stat once a second, while the load runs."""

    def __init__(self):
        super().__init__(daemon=True)
        self.samples: list[list[float]] = []
        self.halt = threading.Event()

    @staticmethod
    def _read() -> list[tuple[int, int]]:
        cores = []
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("cpu") and line[3:4].isdigit():
                fields = [int(v) for v in line.split()[1:]]
                idle = fields[3] + fields[4]
                cores.append((sum(fields), idle))
        return cores

    def run(self):
        before = self._read()
        while not self.halt.wait(1.0):
            now = self._read()
            self.samples.append(
                [100 * (1 - (i1 - i0) / max(1, t1 - t0)) for (t0, i0), (t1, i1) in zip(before, now, strict=True)]
            )
            before = now

    def report(self) -> None:
        self.halt.set()
        if not self.samples:
            return
        print("\n== CPU busy per core during the run (/proc/stat, 1 s samples)")
        for core in range(len(self.samples[0])):
            values = [s[core] for s in self.samples]
            print(
                f"  core {core}: mean {statistics.mean(values):5.1f}%  p90 {_pct(values, 0.9):5.1f}%"
                f"  max {max(values):5.1f}%"
            )


def cpu_seconds(procs: Procs) -> dict[str, float]:
    """User + system CPU seconds of each started process and its children (by process group)."""
    tick = os.sysconf("SC_CLK_TCK")
    groups = {proc.pid: name for name, proc in procs.procs}
    used: dict[str, float] = defaultdict(float)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        name = groups.get(int(fields[2]))  # the process group: each started process leads its own
        if name:
            used[name] += (int(fields[11]) + int(fields[12])) / tick
    return used


def pg_sessions() -> int:
    """Sessions PostgreSQL has opened on the bench's database so far (pg_stat_database,
    PostgreSQL 14+): the difference over a run is the app's connection churn."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # not the statistics cached earlier in this session
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return int(cursor.fetchone()[0] or 0)


def redis_connections(url: str) -> int:
    """Connections the Redis server has accepted so far (INFO stats)."""
    import redis

    return int(redis.Redis.from_url(url).info("stats")["total_connections_received"])


def report_cpu_by_process(before: dict[str, float], after: dict[str, float], seconds: float) -> None:
    print("\n== CPU by process during the run (share of one core)")
    for name in sorted(after, key=lambda n: -(after[n] - before.get(n, 0))):
        print(f"  {name:<10} {100 * (after[name] - before.get(name, 0)) / seconds:5.1f}%")


def _category(span) -> str | None:
    system = span.attributes.get("db.system") or span.attributes.get("db.system.name")
    if system == "postgresql":
        return "SQL"
    if system == "redis":
        return "Redis"
    if system == "mongodb":
        return "MongoDB"
    if span.attributes.get("http.url") or span.attributes.get("url.full"):
        return "HTTP out"
    if span.name.startswith("apply_async/"):
        return "Celery publish"
    return None


def report_traces(spans) -> None:
    """Per endpoint: mean time of the sampled requests and how much of it went where (the web
    process's own spans; the rest is Python: DRF, serializers, rendering)."""
    by_trace = defaultdict(list)
    for s in spans:
        by_trace[s.trace_id].append(s)
    per_route: dict[str, list[dict]] = defaultdict(list)
    worker_ms: dict[str, list[float]] = defaultdict(list)
    for trace in by_trace.values():
        roots = [
            s
            for s in trace
            if s.parent_id is None
            and s.service == "deepiri-web"
            and s.name.split(" ")[0] in ("GET", "POST", "PUT", "PATCH", "DELETE")
        ]
        if len(roots) != 1:
            continue
        root = roots[0]
        parts: dict[str, float] = defaultdict(float)
        counts: dict[str, int] = defaultdict(int)
        for s in trace:
            if s.service != root.service:
                continue
            cat = _category(s)
            if cat:
                parts[cat] += s.duration_ms
                counts[cat] += 1
        parts["total"] = root.duration_ms
        parts.update({f"n {k}": v for k, v in counts.items()})
        per_route[root.name].append(parts)
        runs = [s.duration_ms for s in trace if s.name.startswith("run/") and s.service == "deepiri-worker"]
        if runs:
            worker_ms[root.name].append(sum(runs))
    print("\n== where the time goes (sampled traces; mean ms per request in the web process)")
    cats = ["SQL", "Redis", "MongoDB", "HTTP out", "Celery publish"]
    print(
        f"  {'route':<36} {'traces':>6} {'total':>6} "
        + " ".join(f"{c:>14}" for c in cats)
        + f" {'Python':>7} {'p50':>5} {'p99':>5}"
    )
    for route, rows in sorted(per_route.items()):
        mean = {k: statistics.mean(r.get(k, 0) for r in rows) for k in ["total", *cats, *[f"n {c}" for c in cats]]}
        python = mean["total"] - sum(mean[c] for c in cats)
        cells = " ".join(f"{mean[c]:>7.2f} ({mean['n ' + c]:>4.1f})" for c in cats)
        totals = [r["total"] for r in rows]
        print(
            f"  {route:<36} {len(rows):>6} {mean['total']:>6.2f} {cells} {python:>7.2f}"
            f" {_pct(totals, 0.5):>5.0f} {_pct(totals, 0.99):>5.0f}"
        )
    print(
        "  (n) = spans per request; p50/p99 of the request span itself: from the first middleware to the"
        " response,\n  so the gateway's time above it is spent before a worker takes the request"
    )
    for route, values in worker_ms.items():
        print(
            f"  {route}: the Celery task ran {statistics.mean(values):.1f} ms on average in the worker "
            f"({len(values)} traces)"
        )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=64)
    ap.add_argument("--seconds", type=int, default=180)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--sample", type=float, default=0.2, help="trace sampling ratio (0 turns tracing off)")
    ap.add_argument("--worker-class", choices=["sync", "gthread"], default="sync")
    ap.add_argument("--web-workers", type=int, default=3)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument(
        "--worker-nice",
        type=int,
        default=10,
        help="run the Celery worker at this nice level: background work yields the shared core to requests",
    )
    ap.add_argument("--nx-core", type=int, default=1, help="core of the MongoDB stand-in (0: beside the app)")
    ap.add_argument(
        "--worker-core", type=int, default=0, help="core of the Celery worker (1: off the web's core, an experiment)"
    )
    ap.add_argument("--tasks-per-user", type=int, default=40)
    ap.add_argument("--think", default="0.5,2.0", help="think time range of a user between actions, seconds")
    args = ap.parse_args()
    if not shutil.which("nginx"):
        sys.exit("nginx is not installed (apt-get install nginx-light)")

    from challenges.tests.fake_cyrex import FakeCyrex
    from devtools.testing.tracing import OtlpCollector

    tmp = Path(tempfile.mkdtemp(prefix="deepiri-load-"))
    procs = Procs()
    queue = f"bench-load-{os.getpid()}"
    env_extra = {
        "JWT_ACCESS_MINUTES": "240",
        "CELERY_QUEUE": queue,
        "DB_CONN_MAX_AGE": "60",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    with (
        BenchEnv("load", redis_db=int(os.environ.get("BENCH_REDIS_DB", "14")), extra_env=env_extra) as env,
        FakeCyrex(api_key="bench-key") as cyrex,
        OtlpCollector() as collector,
    ):
        try:
            nx_port = free_port()
            nx = procs.start(
                "nx-27017",
                [
                    str(BIN / "nx-27017"),
                    "--host",
                    "127.0.0.1",
                    "-p",
                    str(nx_port),
                    "--db",
                    "memory",
                    "--log-file",
                    str(tmp / "nx.log"),
                ],
                args.nx_core,
                env.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1.0)
            if nx.poll() is not None:
                raise RuntimeError("nx-27017 did not start")
            app_env = {
                **env.env,
                "ROOT_URLCONF": "deepiri.urls",
                "MONGODB_URI": f"mongodb://127.0.0.1:{nx_port}/",
                "AI_SERVICE_URL": cyrex.url,
                "AI_SERVICE_API_KEY": "bench-key",
                "NUM_PROXIES": "1",
            }
            if args.sample > 0:
                app_env.update(
                    {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_TRACES_SAMPLER_ARG": str(args.sample)}
                )
            env.env.update({k: v for k, v in app_env.items() if not k.startswith("OTEL_")})
            env.django_setup()
            tokens = seed(args.users, args.tasks_per_user)
            tokens_file = tmp / "tokens.json"
            tokens_file.write_text(json.dumps(tokens))

            web_port, ws_port, gw_port = free_port(), free_port(), free_port()
            web_cmd, web_env = web_command(args, web_port)
            web = procs.start("gunicorn", web_cmd, 0, {**app_env, **web_env, "OTEL_SERVICE_NAME": "deepiri-web"})
            ws = procs.start(
                "daphne",
                [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(ws_port), "deepiri.asgi:application"],
                0,
                {**app_env, "OTEL_SERVICE_NAME": "deepiri-ws"},
                stderr=subprocess.DEVNULL,
            )
            niced = ["nice", "-n", str(args.worker_nice)] if args.worker_nice else []
            procs.start(
                "celery",
                [
                    *niced,
                    PY,
                    "-m",
                    "celery",
                    "-A",
                    "deepiri",
                    "worker",
                    "-P",
                    "prefork",
                    "-c",
                    "2",
                    "-Q",
                    queue,
                    "-n",
                    f"{queue}@%h",
                    "-l",
                    "WARNING",
                    "--without-gossip",
                    "--without-mingle",
                ],
                args.worker_core,
                {**app_env, "OTEL_SERVICE_NAME": "deepiri-worker"},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            gateway = procs.start(
                "nginx", ["nginx", "-p", str(tmp), "-c", str(render_nginx(tmp, gw_port, web_port, ws_port))], 1, app_env
            )
            wait_http(f"http://127.0.0.1:{web_port}/api/health/live", web, "gunicorn")
            wait_http(f"http://127.0.0.1:{ws_port}/api/health/live", ws, "daphne")
            host = f"http://127.0.0.1:{gw_port}"
            wait_http(f"{host}/api/health/live", gateway, "nginx")
            print(
                f"gateway {host} ({'deploy/nginx/deepiri.conf' if NGINX_TEMPLATE.exists() else 'minimal config'}); "
                f"gunicorn {args.worker_class} x{args.web_workers}"
                f"{f' threads {args.threads}' if args.worker_class == 'gthread' else ''}, daphne, celery prefork x2{f' (nice {args.worker_nice})' if args.worker_nice else ''} on core 0 (celery: core {args.worker_core}); "
                f"nx-27017 on core {args.nx_core}; nginx + locust on core 1; tracing sample {args.sample}"
            )

            if args.warmup:
                run_locust(args, host, tokens_file, args.warmup, tmp / "warmup", args.users)
            collector.clear()
            access_log = tmp / "access.log"
            offset = access_log.stat().st_size
            cpu = CpuSampler()
            cpu.start()
            used_before, started = cpu_seconds(procs), time.monotonic()
            sessions_before, redis_before = pg_sessions(), redis_connections(env.env["REDIS_URL"])
            run_locust(args, host, tokens_file, args.seconds, tmp / "load", args.users)
            used_after, elapsed = cpu_seconds(procs), time.monotonic() - started
            cpu.report()
            report_cpu_by_process(used_before, used_after, elapsed)
            opened = pg_sessions() - sessions_before
            redis_opened = redis_connections(env.env["REDIS_URL"]) - redis_before
            print(f"\n== connections opened during the run: PostgreSQL {opened} ({opened / elapsed:.1f}/s), "
                  f"Redis {redis_opened} ({redis_opened / elapsed:.1f}/s; the server is shared, so an upper bound)")
            rows = read_stats(tmp / "load")
            procs.stop()  # the app processes flush their last spans as they exit
            ok = report_stats(rows, args.seconds)
            at_gateway = report_gateway(gateway_rows(access_log, offset))
            failures = tmp / "load_failures.csv"
            if failures.exists() and len(failures.read_text().splitlines()) > 1:
                print("\n  failures:\n" + "\n".join("    " + line for line in failures.read_text().splitlines()[:20]))
            if args.sample > 0:
                report_traces(collector.spans)
            print(
                f"\n  goals {'met' if ok else 'NOT met'} (locust); {'met' if at_gateway else 'NOT met'} at the gateway"
            )
        finally:
            procs.stop()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
