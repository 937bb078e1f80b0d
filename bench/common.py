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

import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
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


# -- the production shape (bench/load.py, bench/soak.py) ------------------------------------------
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
    """`users` signed-in users with `tasks_per_user` tasks each, written in bulk, and their
    analytics built from those rows (as tasks made through the API are folded one by one):
    without it, every user's first analytics read past ANALYTICS_FRESHNESS_GRACE_SECONDS found
    MongoDB short of the seeded rows and answered 503 `rebuilding` while 64 rebuilds queued up,
    which the soak counted as failures."""
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group

    from accounts.models import User
    from accounts.tokens import issue_pair
    from analytics.rebuild import rebuild_user
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
    for u in people:
        rebuild_user(u)
    return [issue_pair(u)["token"] for u in people]


def locust_command(args, host: str, tokens_file: Path, seconds: int, csv_prefix: Path, users: int):
    """The locust command line (pinned to core 1, beside nginx) and its environment."""
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
    return pin(cmd, 1), env


def run_locust(args, host: str, tokens_file: Path, seconds: int, csv_prefix: Path, users: int) -> None:
    cmd, env = locust_command(args, host, tokens_file, seconds, csv_prefix, users)
    subprocess.run(cmd, cwd=ROOT, env=env, check=False, stdout=subprocess.DEVNULL)


def add_shape_arguments(ap) -> None:
    """The options of the production shape and its load, shared by bench/load.py and bench/soak.py."""
    ap.add_argument("--users", type=int, default=64)
    ap.add_argument("--warmup", type=int, default=20)
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


def shape_env(queue: str) -> dict:
    """What the shape's processes need beyond BenchEnv's production settings."""
    return {
        "JWT_ACCESS_MINUTES": "240",
        "CELERY_QUEUE": queue,
        "DB_CONN_MAX_AGE": "60",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
    }


@dataclass
class Shape:
    host: str  # the gateway, the only address the load needs
    tokens_file: Path  # one access token per seeded user (bench/locustfile.py reads it)
    app_env: dict


def start_shape(args, env: BenchEnv, procs: Procs, tmp: Path, *, queue: str, ai_url: str,
                collector_url: str | None = None, sample: float = 0.0, beat: bool = False) -> Shape:
    """Start the production shape: nx-27017 (the MongoDB stand-in), gunicorn, daphne and a
    Celery worker on core 0 (the worker at `--worker-core`), Celery beat beside the worker when
    `beat`, and the nginx gateway on core 1; seed `--users` signed-in users. Returns once every
    server answers. Tracing exports to `collector_url` at `sample` when both are given."""
    nx_port = free_port()
    nx = procs.start(
        "nx-27017",
        [str(BIN / "nx-27017"), "--host", "127.0.0.1", "-p", str(nx_port), "--db", "memory",
         "--log-file", str(tmp / "nx.log")],
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
        "AI_SERVICE_URL": ai_url,
        "AI_SERVICE_API_KEY": "bench-key",
        "NUM_PROXIES": "1",
    }
    if collector_url and sample > 0:
        app_env.update({"OTEL_EXPORTER_OTLP_ENDPOINT": collector_url, "OTEL_TRACES_SAMPLER_ARG": str(sample)})
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
        [*niced, PY, "-m", "celery", "-A", "deepiri", "worker", "-P", "prefork", "-c", "2", "-Q", queue,
         "-n", f"{queue}@%h", "-l", "WARNING", "--without-gossip", "--without-mingle"],
        args.worker_core,
        {**app_env, "OTEL_SERVICE_NAME": "deepiri-worker"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if beat:
        # As deployed (devtools/topology.py): the database scheduler, which sends the outbox sweep
        # and the apps' periodic jobs to the shape's queue.
        procs.start(
            "beat",
            [*niced, PY, "-m", "celery", "--quiet", "-A", "deepiri", "beat", "-l", "WARNING",
             "--scheduler", "kernel.beat:DatabaseScheduler", "--pidfile", str(tmp / "beat.pid")],
            args.worker_core,
            {**app_env, "OTEL_SERVICE_NAME": "deepiri-beat"},
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
        f"{f' threads {args.threads}' if args.worker_class == 'gthread' else ''}, daphne, celery prefork x2"
        f"{f' (nice {args.worker_nice})' if args.worker_nice else ''}{' + beat' if beat else ''} on core 0 "
        f"(celery: core {args.worker_core}); nx-27017 on core {args.nx_core}; nginx + locust on core 1; "
        f"tracing sample {sample if collector_url else 0}"
    )
    return Shape(host=host, tokens_file=tokens_file, app_env=app_env)


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
