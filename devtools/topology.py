"""The production shape on one machine without containers: the nginx gateway in front of
gunicorn (web) and daphne (ws) processes, a Celery worker and Celery beat, each a supervised
child process with its own log file. `make prod` (scripts/prod-local.sh) runs it; the scale-out
test starts two of each with it and kills some.

    topology = Topology(env, run_dir=Path(".prod"), web=2, ws=2, gateway_port=8080)
    topology.start()          # every process, then waits until each one is ready
    topology.url              # http://127.0.0.1:8080 (the only address clients need)
    topology.metrics_url      # http://127.0.0.1:<metrics_port>/metrics: every web process's metrics
    topology.supervise()      # restart what dies, until stop() or Ctrl-C
    topology.stop()

The gateway's configuration is `deploy/nginx/deepiri.conf`, the file the compose gateway
uses, rendered here with the local upstream addresses, plus a metrics listener: a fixed address
whose /metrics adds up every gunicorn worker of every web process (they share one
PROMETHEUS_MULTIPROC_DIR, fresh at each start), still behind the app's own auth rule.

Each start has its own instance id (DEEPIRI_INSTANCE), which every process echoes in the
`Deepiri-Instance` header of its health probes: a probe answered by some other program that
holds one of our ports is never taken for ours.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
from psycopg import sql

from kernel.config import settings_variables

ROOT = Path(__file__).resolve().parent.parent
INSTANCE_HEADER = "Deepiri-Instance"  # kernel/health.py sets it from DEEPIRI_INSTANCE
NGINX_TEMPLATE = ROOT / "deploy" / "nginx" / "deepiri.conf"
GUNICORN_CONFIG = ROOT / "deploy" / "gunicorn.conf.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nginx_binary() -> str | None:
    """Debian puts nginx in /usr/sbin, which is not on every user's PATH."""
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


def _http_ok(url: str, instance: str | None = None) -> bool:
    """200 from `url`, and, given `instance`, answered by a process of that instance."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (a local address)
            return response.status == 200 and (instance is None or response.headers.get(INSTANCE_HEADER) == instance)
    except OSError:
        return False


def port_taken(host: str, port: int) -> bool:
    """Whether another program listens on host:port (SO_REUSEADDR as nginx binds, so a port
    left in TIME_WAIT by our own last run does not count)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host.strip("[]"), port))
        except OSError:
            return True
    return False


def _probe_host(bind: str) -> str:
    """The address a local probe uses for a listener bound to `bind`."""
    return "127.0.0.1" if bind in ("0.0.0.0", "*", "", "::", "[::]") else bind  # noqa: S104 (a probe, not a bind)


def render_metrics_server(*, listen: str, access_log: str) -> str:
    """A gateway listener that serves /metrics only (from the web upstream): the fixed scrape
    address. The app still requires a `metrics` API key or staff."""
    return f"""
server {{
    listen {listen};
    server_name _;
    server_tokens off;
    access_log {access_log} deepiri_json;
    location = /metrics {{
        proxy_http_version 1.1;
        proxy_set_header Host $http_host;
        proxy_set_header Connection "";
        proxy_set_header X-Request-ID $deepiri_request_id;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_pass http://deepiri_web;
    }}
    location / {{ return 404; }}
}}
"""


def persistent_secret(path: Path) -> str:
    """A random key kept in `path` (created owner-only on first use), so sessions and tokens
    survive a restart of the local stack."""
    if path.is_file() and path.read_text().strip():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(50) + "\n")
    return path.read_text().strip()


def render_nginx_site(*, listen: int | str, web: list[str], ws: list[str], max_body_bytes: int, access_log: str) -> str:
    """deploy/nginx/deepiri.conf with its ${DEEPIRI_*} variables filled in (what envsubst does
    in the official image)."""
    values = {
        "DEEPIRI_LISTEN": str(listen),
        "DEEPIRI_WEB_SERVERS": " ".join(f"server {addr};" for addr in web),
        "DEEPIRI_WS_SERVERS": " ".join(f"server {addr};" for addr in ws),
        "DEEPIRI_MAX_BODY_BYTES": str(max_body_bytes),
        "DEEPIRI_ACCESS_LOG": access_log,
    }
    text = NGINX_TEMPLATE.read_text()
    missing = set(re.findall(r"\$\{(DEEPIRI_[A-Z_]+)\}", text)) - set(values)
    if missing:
        raise KeyError(f"no value for {sorted(missing)} in {NGINX_TEMPLATE}")
    return re.sub(r"\$\{(DEEPIRI_[A-Z_]+)\}", lambda m: values[m.group(1)], text)


def render_nginx_main(run_dir: Path, site_conf: Path) -> str:
    """A whole nginx.conf for a gateway run by this user from `run_dir` (pid, temp files, error
    log there; in the foreground so the supervisor sees it die)."""
    tmp = run_dir / "nginx"
    return f"""# generated by devtools/topology.py
worker_processes 1;
daemon off;
pid {run_dir / "nginx.pid"};
error_log {run_dir / "logs" / "gateway-error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    default_type application/octet-stream;
    sendfile on;
    keepalive_timeout 65;
    client_body_temp_path {tmp / "client_body"};
    proxy_temp_path {tmp / "proxy"};
    fastcgi_temp_path {tmp / "fastcgi"};
    uwsgi_temp_path {tmp / "uwsgi"};
    scgi_temp_path {tmp / "scgi"};
    include {site_conf};
}}
"""


class Process:
    """One supervised child: its own session (so a stop reaches its workers too) and log file."""

    def __init__(self, name: str, cmd: list[str], env: dict, log: Path, ready: Callable[[Process], bool]):
        self.name, self.cmd, self.env, self.log_path, self._ready = name, cmd, env, log, ready
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self.starts: list[float] = []

    def start(self) -> Process:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603
                self.cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.starts.append(time.monotonic())
        return self

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ready(self) -> bool:
        return self.alive() and self._ready(self)

    def log(self, tail: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def signal(self, sig: int) -> None:
        if self.alive():
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        """SIGKILL to the process and its children: a crash, not a shutdown. Returns once its
        port refuses connections (a child may outlive the parent by a moment, still accepting)."""
        self.signal(signal.SIGKILL)
        if self.proc:
            self.proc.wait(10)
        deadline = time.monotonic() + 10
        while self.port and _port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self, timeout: float = 15) -> None:
        if not self.alive():
            return
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()


class Topology:
    def __init__(
        self,
        env: dict,
        *,
        run_dir: Path,
        web: int = 2,
        ws: int = 2,
        worker: bool = True,
        beat: bool = True,
        gateway_port: int | None = None,
        gateway_bind: str = "127.0.0.1",
        metrics_port: int | None = None,
        web_workers: int | None = None,
        worker_concurrency: int | None = None,
        log: Callable[[str], None] = lambda line: None,
    ):
        self.instance = secrets.token_hex(8)
        self.env = {"PYTHONUNBUFFERED": "1", "DJANGO_SETTINGS_MODULE": "deepiri.settings", **env,
                    "DEEPIRI_INSTANCE": self.instance}
        self.run_dir = Path(run_dir).resolve()
        self.gateway_port = gateway_port or free_port()
        self.gateway_bind = gateway_bind
        self.metrics_port = metrics_port or free_port()
        self.metrics_dir = self.run_dir / "metrics"
        self.say = log
        bindir = Path(sys.executable).parent
        py = sys.executable
        self.web: list[Process] = []
        self.ws: list[Process] = []
        self.workers: list[Process] = []
        logs = self.run_dir / "logs"

        for i in range(1, web + 1):
            port = free_port()
            penv = {**self.env, "GUNICORN_BIND": f"127.0.0.1:{port}", "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir)}
            if web_workers:
                penv["GUNICORN_WORKERS"] = str(web_workers)
            proc = Process(
                f"web-{i}",
                [py, "-m", "gunicorn", "-c", str(GUNICORN_CONFIG), "deepiri.wsgi:application"],
                penv, logs / f"web-{i}.log",
                lambda p, port=port: _http_ok(f"http://127.0.0.1:{port}/api/health/ready", self.instance),
            )
            proc.port = port
            self.web.append(proc)
        for i in range(1, ws + 1):
            port = free_port()
            daphne = shutil.which("daphne", path=str(bindir)) or "daphne"
            proc = Process(
                f"ws-{i}",
                [daphne, "-b", "127.0.0.1", "-p", str(port), "--proxy-headers", "deepiri.asgi:application"],
                dict(self.env), logs / f"ws-{i}.log",
                lambda p, port=port: _http_ok(f"http://127.0.0.1:{port}/api/health/ready", self.instance),
            )
            proc.port = port
            self.ws.append(proc)
        if worker:
            cmd = [py, "-m", "celery", "-A", "deepiri", "worker", "-l", "INFO", "-n", "worker-1@%h",
                   "-Q", self.env.get("CELERY_QUEUE", "deepiri")]
            if worker_concurrency:
                cmd += ["--concurrency", str(worker_concurrency)]
            self.workers.append(
                Process("worker-1", cmd, dict(self.env), logs / "worker-1.log", lambda p: " ready." in p.log(200_000))
            )
        if beat:
            self.workers.append(
                Process(
                    "beat",
                    [py, "-m", "celery", "--quiet", "-A", "deepiri", "beat", "-l", "INFO",
                     "--scheduler", "kernel.beat:DatabaseScheduler",
                     "--pidfile", str(self.run_dir / "beat.pid")],
                    dict(self.env), logs / "beat.log",
                    lambda p: "beat: Starting..." in p.log(200_000),
                )
            )
        site = self.run_dir / "nginx" / "deepiri.conf"
        self.gateway = Process(
            "gateway",
            [nginx_binary() or "nginx", "-p", str(self.run_dir), "-e",
             str(logs / "gateway-error.log"), "-c", str(self.run_dir / "nginx" / "nginx.conf")],
            dict(os.environ), logs / "gateway.log",
            lambda p: _http_ok(f"{self.url}/api/health/ready", self.instance),
        )
        self._site_conf = site

    # ------------------------------------------------------------------ addresses
    @property
    def url(self) -> str:
        return f"http://{_probe_host(self.gateway_bind)}:{self.gateway_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{_probe_host(self.gateway_bind)}:{self.gateway_port}/ws/"

    @property
    def metrics_url(self) -> str:
        return f"http://{_probe_host(self.gateway_bind)}:{self.metrics_port}/metrics"

    @property
    def access_log(self) -> Path:
        return self.run_dir / "logs" / "gateway-access.log"

    @property
    def processes(self) -> list[Process]:
        return [*self.web, *self.ws, *self.workers, self.gateway]

    # ------------------------------------------------------------------ lifecycle
    def write_gateway_config(self) -> None:
        nginx_dir = self.run_dir / "nginx"
        (self.run_dir / "logs").mkdir(parents=True, exist_ok=True)
        nginx_dir.mkdir(parents=True, exist_ok=True)
        # nginx started by root drops its workers to an unprivileged user, which must reach the
        # temp directories it creates below run_dir.
        for path in (self.run_dir, nginx_dir):
            path.chmod(0o755)
        self._site_conf.write_text(
            render_nginx_site(
                listen=f"{self.gateway_bind}:{self.gateway_port}",
                web=[f"127.0.0.1:{p.port}" for p in self.web],
                ws=[f"127.0.0.1:{p.port}" for p in self.ws],
                max_body_bytes=int(self.env.get("MAX_BODY_BYTES", 1024 * 1024)),
                access_log=str(self.access_log),
            )
            + render_metrics_server(listen=f"{self.gateway_bind}:{self.metrics_port}", access_log=str(self.access_log))
        )
        (nginx_dir / "nginx.conf").write_text(render_nginx_main(self.run_dir, self._site_conf))

    def start(self, timeout: float = 90) -> Topology:
        # Counters start again with a new start time: files of a previous run must not be added in.
        shutil.rmtree(self.metrics_dir, ignore_errors=True)
        self.metrics_dir.mkdir(parents=True)
        self.env["DEEPIRI_METRICS_STARTED"] = str(time.time())
        for proc in self.web:
            proc.env["DEEPIRI_METRICS_STARTED"] = self.env["DEEPIRI_METRICS_STARTED"]
        self.write_gateway_config()
        for proc in self.processes:
            proc.start()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 90, processes: list[Process] | None = None) -> None:
        pending = list(processes or self.processes)
        deadline = time.monotonic() + timeout
        while pending:
            for proc in list(pending):
                if not proc.alive():
                    raise RuntimeError(f"{proc.name} exited with {proc.proc.returncode}:\n{proc.log()}")
                if proc.ready():
                    pending.remove(proc)
                    self.say(f"{proc.name} ready (pid {proc.pid})")
            if pending and time.monotonic() > deadline:
                names = ", ".join(p.name for p in pending)
                raise RuntimeError(f"not ready within {timeout}s: {names}\n" + "\n".join(p.log(1500) for p in pending))
            if pending:
                time.sleep(0.2)

    def supervise(self, should_stop: Callable[[], bool] = lambda: False, poll: float = 1.0) -> None:
        """Restart any process that exits, until should_stop(); one that keeps dying is started
        again after a growing pause (at most 30 s) instead of in a tight loop."""
        due: dict[str, float] = {}
        while not should_stop():
            for proc in self.processes:
                if proc.alive():
                    continue
                now = time.monotonic()
                if proc.name not in due:
                    recent = [t for t in proc.starts if now - t < 60]
                    pause = min(30.0, 0.5 * 2 ** max(0, len(recent) - 1))
                    due[proc.name] = now + pause
                    self.say(f"{proc.name} exited with {proc.proc.returncode}; restarting in {pause:.1f}s "
                             f"(log: {proc.log_path})")
                elif now >= due[proc.name]:
                    del due[proc.name]
                    proc.start()
                    self.say(f"{proc.name} restarted (pid {proc.pid})")
            time.sleep(poll)

    def stop(self) -> None:
        # The gateway first (no new requests), then the app processes, all at once.
        self.gateway.stop()
        for proc in self.processes:
            proc.signal(signal.SIGTERM)
        for proc in self.processes:
            proc.stop()


# ---------------------------------------------------------------------- make prod
def _ensure_database(url: str) -> None:
    """CREATE DATABASE for a PostgreSQL URL whose database does not exist yet."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    try:
        psycopg.connect(url, connect_timeout=5).close()
        return
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            _fail(f"PostgreSQL at {parts.hostname}:{parts.port or 5432} refused: {' '.join(str(exc).split())}")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _check_redis(url: str) -> None:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        _fail(f"Redis at {url} does not answer: {' '.join(str(exc).split())}")


ENV_FILE = "env"  # in the run directory: the settings `make prod` ran with, for `createadmin`


def _say(line: str) -> None:
    print(f"[prod] {line}", flush=True)


def _fail(line: str, code: int = 1) -> None:
    """One line on stderr and a non-zero exit: what an operator reads first."""
    print(f"[prod] refusing to start: {line}", file=sys.stderr, flush=True)
    raise SystemExit(code)


def prod_env(run_dir: Path, environ: dict | None = None, say: Callable[[str], None] = _say) -> dict:
    """The environment of every `make prod` process: the caller's, with production defaults for
    what it leaves unset."""
    env = dict(os.environ if environ is None else environ)
    env.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/deepiri")
    env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    port = int(env.get("PORT", "8080"))
    bind = env.get("PROD_BIND", "127.0.0.1")
    host = _probe_host(bind)
    hosts = ["127.0.0.1", "localhost"] + ([bind] if host == bind and bind not in ("127.0.0.1", "localhost") else [])
    env.update(
        {
            "DEBUG": "0",
            "DJANGO_SETTINGS_MODULE": "deepiri.settings",
            # one proxy (the gateway) in front: client IPs come from its X-Forwarded-For
            "NUM_PROXIES": env.get("NUM_PROXIES", "1"),
            # plain HTTP on this machine; behind TLS, leave SECURE_SSL_REDIRECT at its default (on)
            "SECURE_SSL_REDIRECT": env.get("SECURE_SSL_REDIRECT", "0"),
            "ALLOWED_HOSTS": env.get("ALLOWED_HOSTS", ",".join(hosts)),
            "CSRF_TRUSTED_ORIGINS": env.get(
                "CSRF_TRUSTED_ORIGINS", ",".join(f"http://{h}:{port}" for h in hosts)
            ),
            "INTEGRATIONS_PUBLIC_URL": env.get("INTEGRATIONS_PUBLIC_URL", f"http://{host}:{port}"),
        }
    )
    if not env.get("EMAIL_URL") and not env.get("EMAIL_BACKEND"):
        # no SMTP server on a newcomer's machine: mails are not sent, and (unlike the console
        # backend) their links never reach a log file
        env["EMAIL_URL"] = "log://"
        say("EMAIL_URL is unset: mails are not sent, only logged as not sent (set EMAIL_URL=smtp://...)")
    if not env.get("SECRET_KEY"):
        env["SECRET_KEY"] = persistent_secret(run_dir / "secret_key")
        say(f"SECRET_KEY: generated, kept in {run_dir / 'secret_key'}")
    return env


def _settings_names() -> set[str]:
    return settings_variables()


def save_env(run_dir: Path, env: dict) -> Path:
    """Write the settings this run uses (owner-only: it holds the secret key and database URL)."""
    names = _settings_names() | {"DJANGO_SETTINGS_MODULE"}
    path = run_dir / ENV_FILE
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("# written by make prod at each start; read by `make prod-admin`\n")
        for key in sorted(names & env.keys()):
            fh.write(f"{key}={shlex.quote(env[key])}\n")
    return path


def load_env(run_dir: Path) -> dict:
    path = run_dir / ENV_FILE
    if not path.is_file():
        _fail(f"{path} does not exist: start `make prod` once first (it writes the settings there)")
    values = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key] = shlex.split(value)[0] if value else ""
    return values


def _check_config(env: dict) -> None:
    """The check every process makes at start (kernel/config.py), once, before migrating. The
    database may not exist yet: make prod creates it."""
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", "from kernel import config; config.check_or_exit('prod', database=False)"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    if result.returncode:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        print(lines[-1] if lines else f"[prod] configuration check failed ({result.returncode})",
              file=sys.stderr, flush=True)
        raise SystemExit(result.returncode)


def _migrate(env: dict, say: Callable[[str], None]) -> None:
    """migrate, reporting one line (the full output only when it fails)."""
    result = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if result.returncode:
        sys.stderr.write(result.stdout + result.stderr)
        _fail(f"manage.py migrate failed (exit {result.returncode}; output above)")
    applied = result.stdout.count("... OK")
    say(f"database schema up to date ({applied} migration(s) applied)" if applied else "database schema up to date")


def createadmin(argv: list[str]) -> None:
    """`make prod-admin`: `manage.py createsuperuser` with the settings of the last `make prod`
    (.prod/env), so it reaches the same database with the same secret. Extra arguments go to
    createsuperuser (e.g. --email a@b.c --noinput with DJANGO_SUPERUSER_PASSWORD set)."""
    run_dir = Path(os.environ.get("PROD_DIR", ROOT / ".prod")).resolve()
    env = {**os.environ, **load_env(run_dir)}
    result = subprocess.run([sys.executable, "manage.py", "createsuperuser", *argv], cwd=ROOT, env=env)  # noqa: S603
    raise SystemExit(result.returncode)


def main(argv: list[str] | None = None) -> None:
    """`make prod`: DEBUG off, a generated secret, the gateway in front of gunicorn and daphne, a
    Celery worker and beat, on the local PostgreSQL and Redis (and MongoDB when MONGODB_URI is
    set). Sizes, ports and the bind address come from the environment (README, "make prod")."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["createadmin"]:
        return createadmin(argv[1:])
    say = _say
    run_dir = Path(os.environ.get("PROD_DIR", ROOT / ".prod")).resolve()
    port = int(os.environ.get("PORT", "8080"))
    metrics_port = int(os.environ.get("PROD_METRICS_PORT", "9180"))
    bind = os.environ.get("PROD_BIND", "127.0.0.1")
    # Before anything else: another program on our port would answer our readiness probe.
    for name, p in (("PORT", port), ("PROD_METRICS_PORT", metrics_port)):
        if port_taken(bind, p):
            _fail(f"port {p} on {bind} is already in use by another program "
                  f"(stop it, or choose another port with {name}=...)")
    if not nginx_binary():
        _fail("nginx is not installed (Debian: apt-get install --no-install-recommends nginx)")
    env = prod_env(run_dir, say=say)
    if not env.get("MONGODB_URI"):
        say("MONGODB_URI is unset: each process keeps analytics in its own memory (set it for MongoDB)")
    _check_config(env)
    if env["DATABASE_URL"].startswith("postgres"):
        _ensure_database(env["DATABASE_URL"])
    _check_redis(env["REDIS_URL"])
    save_env(run_dir, env)
    _migrate(env, say)
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],  # noqa: S603
                   cwd=ROOT, env=env, check=True)

    topology = Topology(
        env,
        run_dir=run_dir,
        web=int(env.get("PROD_WEB", "2")),
        ws=int(env.get("PROD_WS", "1")),
        gateway_port=port,
        gateway_bind=bind,
        metrics_port=metrics_port,
        web_workers=int(env.get("GUNICORN_WORKERS", "2")),
        worker_concurrency=int(env.get("CELERY_CONCURRENCY", "2")),
        log=say,
    )
    stopping = False

    def _stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        try:
            topology.start()
        except RuntimeError as exc:
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            cause = f" ({lines[-1][:300]})" if len(lines) > 1 else ""
            print(f"[prod] failed to start: {lines[0] if lines else exc}{cause}; logs in {run_dir / 'logs'}",
                  file=sys.stderr, flush=True)
            raise SystemExit(1) from None
        say(f"Deepiri is up at {topology.url}  (API {topology.url}/api/, admin {topology.url}/admin/, "
            f"WebSocket {topology.ws_url}?token=...)")
        say(f"metrics: {topology.metrics_url} (an API key of scope `metrics`); first admin: make prod-admin")
        say(f"logs: {run_dir / 'logs'}/*.log; Ctrl-C stops everything")
        topology.supervise(lambda: stopping)
    finally:
        say("stopping...")
        topology.stop()
        say("stopped")


if __name__ == "__main__":
    main()
