"""Configuration is checked when a process starts (kernel/config.py): gunicorn, daphne, the Celery
worker and beat, each started for real with one bad setting, exit with status 78 and one line
naming it. With EMAIL_URL=log:// no verification or reset link reaches a log. `/api/health/ready`
says which dependency is not answering, and `/metrics` adds up every gunicorn worker."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

from devtools.testing.daphne import database_url_for, free_port
from kernel.config import EXIT_CONFIG, settings_variables

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
GUNICORN_CONFIG = str(ROOT / "deploy" / "gunicorn.conf.py")


def _base_env(database_url: str, redis_url: str, prefix: str) -> dict:
    """A production configuration that works: DEBUG off, the real settings module."""
    import os

    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV"}}
    return {
        **keep,
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "deepiri.settings",
        "DEBUG": "0",
        "SECRET_KEY": "startup-test-secret-key-0123456789abcdefghijklmnop",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "EMAIL_URL": "log://",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": prefix,
        "CELERY_QUEUE": prefix,
    }


@pytest.fixture
def prod_env(django_db_setup, django_db_blocker):
    from django.conf import settings
    from django.db import connection

    if not (settings.USING_POSTGRES and settings.REDIS_URL):
        pytest.skip("needs PostgreSQL and Redis")
    with django_db_blocker.unblock():
        url = database_url_for(connection.settings_dict)
    return _base_env(url, settings.REDIS_URL, f"{settings.REDIS_KEY_PREFIX}-startup-{uuid.uuid4().hex[:6]}")


def _commands(tmp_path: Path) -> dict[str, list[str]]:
    daphne = shutil.which("daphne", path=str(Path(PY).parent)) or "daphne"
    return {
        "web": [PY, "-m", "gunicorn", "-c", GUNICORN_CONFIG, "-b", f"127.0.0.1:{free_port()}", "deepiri.wsgi:application"],
        "ws": [daphne, "-b", "127.0.0.1", "-p", str(free_port()), "deepiri.asgi:application"],
        "worker": [PY, "-m", "celery", "-A", "deepiri", "worker", "-l", "INFO", "-P", "solo", "-Q", "startup-test"],
        "beat": [PY, "-m", "celery", "-A", "deepiri", "beat", "-l", "INFO", "-s", str(tmp_path / "beat-schedule"),
                 "--pidfile", str(tmp_path / "beat.pid")],
    }


def _absent_database(url: str) -> str:
    return url.rsplit("/", 1)[0] + f"/deepiri_config_absent_{uuid.uuid4().hex[:8]}"


BAD = {
    "malformed-redis": (lambda env: {"REDIS_URL": "localhost:6379"}, "REDIS_URL is malformed"),
    "redis-db-not-a-number": (lambda env: {"REDIS_URL": "redis://127.0.0.1:6379/zero"}, "REDIS_URL is malformed"),
    "malformed-database": (lambda env: {"DATABASE_URL": "postgres//127.0.0.1/deepiri"}, "DATABASE_URL is malformed"),
    "database-bad-port": (lambda env: {"DATABASE_URL": "postgres://u@127.0.0.1:pg/x"}, "DATABASE_URL is malformed"),
    "malformed-mongo": (lambda env: {"MONGODB_URI": "mongodb://127.0.0.1:mongo/x"}, "MONGODB_URI is malformed"),
    "absent-database": (lambda env: {"DATABASE_URL": _absent_database(env["DATABASE_URL"])}, "which does not exist"),
    "absent-role": (lambda env: {"DATABASE_URL": re.sub(r"//[^@/]+@", "//nobody_config_x@", env["DATABASE_URL"])},
                    'is refused by PostgreSQL at 127.0.0.1:5432: role "nobody_config_x" does not exist'),
    "no-allowed-hosts": (lambda env: {"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS is empty while DEBUG is off"),
    "console-mail": (lambda env: {"EMAIL_URL": ""}, "no mail backend while DEBUG is off"),
    "no-frontend-url": (lambda env: {"EMAIL_URL": "smtp://127.0.0.1:2525"}, "FRONTEND_URL is unset while DEBUG is off"),
    "no-secret-key": (lambda env: {"SECRET_KEY": ""}, "SECRET_KEY"),
}


@pytest.mark.services
@pytest.mark.slow
@pytest.mark.django_db  # so that the test database exists: the working configuration names it
@pytest.mark.parametrize("process", ["web", "ws", "worker", "beat"])
@pytest.mark.parametrize("case", list(BAD))
def test_a_process_with_a_bad_setting_refuses_to_start_with_one_line(prod_env, tmp_path, process, case):
    change, expected = BAD[case]
    env = {**prod_env, **change(prod_env)}
    env = {k: v for k, v in env.items() if v != "" or k in {"ALLOWED_HOSTS"}}
    try:
        result = subprocess.run(_commands(tmp_path)[process], cwd=ROOT, env=env, capture_output=True, text=True,
                                timeout=45)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{process} started with {case}: {(exc.stderr or b'')[-2000:]!r}")
    output = result.stdout + result.stderr
    assert result.returncode == EXIT_CONFIG, output[-3000:]
    lines = [line for line in output.splitlines() if "refusing to start" in line]
    assert len(lines) == 1, output[-3000:]
    assert lines[0].startswith(f"deepiri {process}: refusing to start: ") and expected in lines[0], lines[0]
    assert "Traceback" not in output, output[-3000:]


class Gunicorn:
    def __init__(self, env: dict, log: Path, workers: int = 2):
        self.port = free_port()
        self.log = log
        self.env = {**env, "GUNICORN_WORKERS": str(workers), "GUNICORN_BIND": f"127.0.0.1:{self.port}"}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        with open(self.log, "wb") as fh:
            self.proc = subprocess.Popen(  # noqa: S603
                [PY, "-m", "gunicorn", "-c", GUNICORN_CONFIG, "deepiri.wsgi:application"],
                cwd=ROOT, env=self.env, stdout=fh, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 120
        while True:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                if requests.get(f"{self.url}/api/health/live", timeout=5).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, self.log.read_text()[-3000:]
            time.sleep(0.2)

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@pytest.mark.services
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_log_only_mail_never_writes_a_token_or_link_to_the_log(prod_env, tmp_path):
    marker = uuid.uuid4().hex
    env = {**prod_env, "EMAIL_URL": "log://", "FRONTEND_URL": f"https://front-{marker}.example",
           "LOG_LEVEL": "DEBUG", "LOG_REQUESTS": "1"}
    log = tmp_path / "web.log"
    with Gunicorn(env, log, workers=1) as web:
        email = f"mail-{marker[:8]}@example.com"
        r = requests.post(f"{web.url}/api/auth/register",
                          json={"name": "Mia", "email": email, "password": "Correct-Horse-42!"}, timeout=10)
        assert r.status_code == 201, r.text
        r = requests.post(f"{web.url}/api/auth/forgot-password", json={"email": email}, timeout=10)
        assert r.status_code < 300, r.text
    text = log.read_text()
    assert text.count("mail not sent") == 2, text[-3000:]  # the verification and the reset mail
    assert marker not in text and "token=" not in text and "reset-password" not in text, text[-3000:]


@pytest.mark.django_db
def test_ready_answers_200_when_every_required_dependency_answers(api_client, monkeypatch):
    monkeypatch.setenv("DEEPIRI_INSTANCE", "abc123")
    r = api_client.get("/api/health/ready")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["success"] is True and body["data"]["status"] == "ready"
    assert {"database", "cache", "broker"} <= set(body["data"]["services"])
    assert r["Deepiri-Instance"] == "abc123"
    assert api_client.get("/api/health/live")["Deepiri-Instance"] == "abc123"


@pytest.mark.services
@pytest.mark.django_db
def test_ready_answers_503_naming_the_dependency_that_does_not_answer(api_client, settings):
    if not settings.REDIS_URL:
        pytest.skip("needs Redis")
    dead = "redis://127.0.0.1:1/0"
    settings.CELERY_BROKER_URL = dead
    r = api_client.get("/api/health/ready")
    assert r.status_code == 503, r.content
    body = r.json()
    assert body["success"] is False and body["code"] == "not_ready"
    assert body["errors"] == {"broker": ["down"]} and "broker" in body["message"]
    # the liveness probe does not depend on anything
    assert api_client.get("/api/health/live").status_code == 200


def _samples(text: str, name: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line.startswith(name):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def _on_every_worker(port: int, path: str, headers: dict, workers: int) -> list[tuple[int, str]]:
    """`workers` requests for `path`, each served by a different gunicorn worker: a sync worker
    that has accepted a connection waits for the whole request and takes no other, so with every
    request held back by one missing line, each connection ends up with its own worker."""
    head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items())
    socks = []
    for _ in range(workers):
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.sendall(head.encode())
        socks.append(sock)
    answers = []
    for sock in socks:
        with sock:
            sock.sendall(b"\r\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        status_line, _, rest = data.partition(b"\r\n")
        answers.append((int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2].decode()))
    return answers


@pytest.mark.services
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_metrics_add_up_across_gunicorn_workers(prod_env, tmp_path):
    from accounts.models import ScopedAPIKey

    _, key = ScopedAPIKey.objects.create_key(name="prometheus", scope="metrics")
    workers = 3
    with Gunicorn(prod_env, tmp_path / "web.log", workers=workers) as web:
        assert requests.get(f"{web.url}/metrics", timeout=10).status_code in (401, 403)  # closed to anonymous users

        def scrape_all() -> list[tuple[float, tuple]]:
            out = []
            for status, text in _on_every_worker(web.port, "/metrics", {"Authorization": f"Api-Key {key}"}, workers):
                assert status == 200, text[:500]
                live = _samples(text, "django_http_responses_total_by_status_view_method_total")
                start = tuple(_samples(text, "process_start_time_seconds").values())
                out.append((sum(v for k, v in live.items() if "LiveView" in k or "health/live" in k), start))
            return out

        before = scrape_all()
        rounds = 10
        for _ in range(rounds):
            assert [status for status, _ in _on_every_worker(web.port, "/api/health/live", {}, workers)] == [200] * workers
        after = scrape_all()
    # every scrape, whichever worker answers, reports what every worker served
    assert len({total for total, _ in before}) == 1, before
    assert [total - before[0][0] for total, _ in after] == [rounds * workers] * workers, (before, after)
    starts = {start for _, start in before + after}
    assert len(starts) == 1 and len(next(iter(starts))) == 1, starts


def test_env_example_lists_every_variable_settings_reads():
    names = settings_variables()
    assert {"DATABASE_URL", "REDIS_URL", "EMAIL_URL", "FRONTEND_URL", "THROTTLE_REGISTER"} <= names
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M))
    assert sorted(names - listed) == [], "settings.py reads variables .env.example does not list"


def test_compose_waits_on_readiness_and_asks_for_a_mail_backend():
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in ("web", "ws", "gateway"):
        assert any("/api/health/ready" in part for part in services[name]["healthcheck"]["test"]), name
    assert services["gateway"]["depends_on"]["web"]["condition"] == "service_healthy"
    assert services["gateway"]["depends_on"]["ws"]["condition"] == "service_healthy"
    assert ":?" in compose["x-app"]["environment"]["EMAIL_URL"]  # no silent console backend
