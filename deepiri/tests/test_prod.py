"""`make prod` (devtools/topology.py main): it refuses a port another program holds before doing
anything, tells its own processes from strangers by a per-start instance id, starts with
defaults that pass the startup check, and `createadmin` reaches the database it uses."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from devtools import topology
from devtools.testing.daphne import database_url_for, free_port

ROOT = Path(__file__).resolve().parents[2]


class _Impostor(http.server.BaseHTTPRequestHandler):
    """Another program on the port: it answers 200 to everything, as a second Deepiri would."""

    instance = "someone-else"

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Deepiri-Instance", self.instance)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def impostor():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Impostor)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _clean_env(**extra) -> dict:
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR"}}
    return {**keep, "PYTHONUNBUFFERED": "1", **extra}


@pytest.mark.slow
def test_make_prod_fails_loudly_when_another_program_holds_its_port(impostor, tmp_path):
    env = _clean_env(PORT=str(impostor), PROD_METRICS_PORT=str(free_port()), PROD_DIR=str(tmp_path / "prod"),
                     DATABASE_URL="postgres://postgres@127.0.0.1:5432/deepiri_config_never_made")
    result = subprocess.run([sys.executable, "-m", "devtools.topology"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [f"[prod] refusing to start: port {impostor} on 127.0.0.1 is already in use by another "
                     "program (stop it, or choose another port with PORT=...)"], result.stderr
    # nothing was done before the refusal: no secret made, no migration, no "up"
    assert "up at" not in result.stdout and "migrat" not in result.stdout and "schema" not in result.stdout
    assert not (tmp_path / "prod").exists()


def test_a_probe_answered_by_another_program_is_not_taken_for_ours(impostor):
    url = f"http://127.0.0.1:{impostor}/api/health/ready"
    assert topology._http_ok(url) is True  # what the supervisor used to believe
    assert topology._http_ok(url, "ours-1234") is False
    assert topology._http_ok(url, _Impostor.instance) is True


def test_port_taken_sees_a_listener_and_not_a_closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.listen()
        assert topology.port_taken("127.0.0.1", port) is True
        assert topology.port_taken("0.0.0.0", port) is True  # noqa: S104
    assert topology.port_taken("127.0.0.1", port) is False


def test_make_prod_defaults_pass_the_startup_check_and_bind_where_asked(tmp_path):
    said = []
    env = topology.prod_env(tmp_path, _clean_env(PROD_BIND="0.0.0.0", PORT="8099"), say=said.append)  # noqa: S104
    assert env["EMAIL_URL"] == "log://" and any("EMAIL_URL" in line for line in said)
    assert env["DEBUG"] == "0" and env["SECRET_KEY"] == (tmp_path / "secret_key").read_text().strip()
    assert env["INTEGRATIONS_PUBLIC_URL"] == "http://127.0.0.1:8099"
    topology._check_config(env)  # returns: the defaults pass what every process checks at start
    site = topology.render_metrics_server(listen="0.0.0.0:9180", access_log="/dev/null")  # noqa: S104
    assert "listen 0.0.0.0:9180;" in site and "location = /metrics" in site


def test_make_prod_check_refuses_a_malformed_url_in_one_line(tmp_path, capsys):
    env = topology.prod_env(tmp_path, _clean_env(REDIS_URL="127.0.0.1:6379"), say=lambda line: None)
    with pytest.raises(SystemExit) as exit_info:
        topology._check_config(env)
    assert exit_info.value.code == 78
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("deepiri prod: refusing to start: REDIS_URL is malformed")


@pytest.mark.slow
def test_make_prod_refuses_a_malformed_setting_with_one_line_before_migrating(tmp_path):
    if not topology.nginx_binary():
        pytest.skip("nginx is not installed")
    env = _clean_env(PORT=str(free_port()), PROD_METRICS_PORT=str(free_port()), PROD_DIR=str(tmp_path / "prod"),
                     DATABASE_URL="postgres://postgres@127.0.0.1:1/deepiri_config_x",  # never reached
                     REDIS_URL="redis://127.0.0.1:6379/5", MONGODB_URI="mongodb://127.0.0.1:mongo/x")
    result = subprocess.run([sys.executable, "-m", "devtools.topology"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 78, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        "deepiri prod: refusing to start: MONGODB_URI is malformed: Port contains non-digit characters"
    ], result.stderr
    assert "schema" not in result.stdout and "up at" not in result.stdout


@pytest.mark.services
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_createadmin_uses_the_settings_make_prod_ran_with(tmp_path):
    from django.conf import settings
    from django.db import connection

    from accounts.models import User

    if not settings.USING_POSTGRES:
        pytest.skip("needs PostgreSQL")
    run_dir = tmp_path / "prod"
    env = topology.prod_env(run_dir, _clean_env(DATABASE_URL=database_url_for(connection.settings_dict),
                                                REDIS_URL=settings.REDIS_URL or "redis://127.0.0.1:6379/0"),
                            say=lambda line: None)
    path = topology.save_env(run_dir, env)
    assert oct(path.stat().st_mode & 0o777) == "0o600"  # it holds the secret key
    # The shell that runs `make prod-admin` has none of make prod's settings.
    result = subprocess.run(
        [sys.executable, "-m", "devtools.topology", "createadmin", "--noinput", "--email", "boss@example.com",
         "--name", "Boss"],
        cwd=ROOT, env=_clean_env(PROD_DIR=str(run_dir), DJANGO_SUPERUSER_PASSWORD="Correct-Horse-42!"),
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    boss = User.objects.get(email="boss@example.com")
    # (hashed with the production hasher, which the test settings do not load to verify it)
    assert boss.is_superuser and boss.is_staff and boss.has_usable_password()


def test_createadmin_before_make_prod_says_what_to_do(tmp_path):
    result = subprocess.run([sys.executable, "-m", "devtools.topology", "createadmin"], cwd=ROOT,
                            env=_clean_env(PROD_DIR=str(tmp_path / "never")), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1
    assert "start `make prod` once first" in result.stderr
