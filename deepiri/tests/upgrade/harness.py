"""Helpers of the migration tests: a scratch PostgreSQL database, a release's tree extracted
from git, running `manage.py` or a script with that tree's code, and per-table checksums."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import tarfile
from importlib import metadata
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg

ROOT = Path(__file__).resolve().parents[3]
SCRIPTS = Path(__file__).resolve().parent


def previous_release() -> str:
    return (ROOT / "deploy" / "previous-release").read_text().split()[0]


def extract_release(commit: str, into: Path) -> Path:
    """`git archive` of the commit into a directory (the repository itself is left alone)."""
    check = subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=ROOT, capture_output=True)  # noqa: S603, S607
    if check.returncode != 0:
        raise RuntimeError(
            f"the previous release {commit} (deploy/previous-release) is not in this clone. A shallow clone "
            "cannot run the upgrade test: fetch the history (`git fetch --unshallow`)."
        )
    archive = into / "release.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "archive", "--format=tar", commit], cwd=ROOT, stdout=out, check=True)  # noqa: S603, S607
    tree = into / commit[:12]
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    archive.unlink()
    return tree


def pinned(requirements: str) -> dict[str, str]:
    out = {}
    for line in requirements.splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line and not line.startswith("-"):
            name, version = line.split("==", 1)
            out[name.split("[", 1)[0].strip().lower()] = version.strip()
    return out


def runtime_drift(tree: Path) -> list[str]:
    """The old release's runtime pins that this virtualenv does not satisfy. Empty while the two
    releases share their requirements; otherwise the old code needs a virtualenv of its own."""
    drift = []
    for name, version in pinned((tree / "requirements.txt").read_text()).items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            drift.append(f"{name}=={version} (installed: {installed})")
    return drift


def python_for(tree: Path, cache: Path) -> str:
    """The interpreter that runs the release in `tree`: this one while the pins agree, else a
    virtualenv built once from the release's own requirements and constraints."""
    drift = runtime_drift(tree)
    if not drift:
        return sys.executable
    key = hashlib.sha256((tree / "requirements.txt").read_bytes() + (tree / "constraints.txt").read_bytes()).hexdigest()[:16]
    venv = cache / f"venv-{key}"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # noqa: S603
        result = subprocess.run(  # noqa: S603
            [str(python), "-m", "pip", "install", "-q", "-c", str(tree / "constraints.txt"), "-r", str(tree / "requirements.txt")],
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(
                "the previous release pins other runtime packages than HEAD (" + ", ".join(drift[:5]) + ") and its "
                f"virtualenv could not be built:\n{result.stderr[-2000:]}"
            )
    return str(python)


def admin_dsn(database_url: str) -> str:
    return urlunparse(urlparse(database_url)._replace(path="/postgres"))


@contextlib.contextmanager
def scratch_database(label: str):
    """A fresh, empty database on the test server (its name says what it is for and whose run it
    is), dropped at the end. Yields its URL."""
    base = os.environ["DATABASE_URL"]
    prefix = os.environ.get("TEST_DATABASE_NAME") or "test_deepiri"
    name = f"{prefix}_{label}_{os.getpid()}"[:63]
    url = urlunparse(urlparse(base)._replace(path=f"/{name}"))
    with psycopg.connect(admin_dsn(base), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url
    finally:
        with psycopg.connect(admin_dsn(base), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def release_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "MONGODB_"))}
    env.update(
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="deepiri.settings_test",
        # Jobs run in the process that queues them: no worker to start, and a seeded challenge
        # is generated (locally, no AI service) before the script goes on.
        CELERY_TASK_ALWAYS_EAGER="1",
        THROTTLE_REGISTER="1000/min",
        THROTTLE_LOGIN_IP="1000/min",
        THROTTLE_LOGIN_EMAIL="1000/min",
        INTEGRATIONS_PUBLIC_URL="http://testserver",
        INTEGRATIONS_UNDERSTAND_IMPORTS="0",
        INTEGRATIONS_HTTP_RETRIES="1",
        LOG_LEVEL="WARNING",
        # Keys of their own in the test's Redis db (which the test fixtures flush: the boards
        # then rebuild from the ledger, as after a Redis loss).
        REDIS_KEY_PREFIX=f"{os.environ.get('REDIS_KEY_PREFIX', 'deepiri')}-upgrade",
    )
    env.update(extra)
    return env


def tree_env(tree: Path, env: dict) -> dict:
    """`env` for running `tree`'s code: its own tree on the path, and its test settings (a release
    older than deepiri/settings_test.py gets the base settings with a throwaway key)."""
    env = {**env, "PYTHONPATH": str(tree)}
    if not (tree / "deepiri" / "settings_test.py").exists():
        env.update(DJANGO_SETTINGS_MODULE="deepiri.settings", DEBUG="1")
        env.setdefault("SECRET_KEY", "upgrade-test-only-insecure-secret-key-0123456789")
    return env


def run_manage(python: str, tree: Path, env: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603
        [python, "manage.py", *args], cwd=tree, env=tree_env(tree, env),
        capture_output=True, text=True, timeout=timeout,
    )


def run_script(python: str, tree: Path, env: dict, script: str, state: dict | None = None, timeout: float = 300) -> dict:
    """Run seed.py/smoke.py with `tree`'s code; return what it reported (fail with its output)."""
    env = {**tree_env(tree, env), "UPGRADE_STATE": json.dumps(state or {})}
    result = subprocess.run(  # noqa: S603
        [python, str(SCRIPTS / script)], cwd=tree, env=env, capture_output=True, text=True, timeout=timeout
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("UPGRADE-RESULT ")]
    if result.returncode != 0 or not lines:
        raise AssertionError(f"{script} with {tree.name} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    return json.loads(lines[-1].removeprefix("UPGRADE-RESULT "))


def table_rows(database_url: str) -> dict[str, dict]:
    """Every row of every table of the public schema, as text, with the column names (small
    test databases only): lets a caller compare any projection of two states."""
    out = {}
    with psycopg.connect(database_url) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]
        for table in tables:
            cursor = conn.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - names from the catalogue
            columns = [d.name for d in cursor.description]
            out[table] = {"columns": columns, "rows": [tuple(None if v is None else str(v) for v in row) for row in cursor]}
    return out


def projection(entry: dict, columns: list[str]) -> list[tuple]:
    index = [entry["columns"].index(c) for c in columns]
    return sorted((tuple(row[i] for i in index) for row in entry["rows"]), key=repr)


def digest(rows: list[tuple]) -> str:
    """A table's checksum: md5 over its sorted rows (as projected)."""
    return hashlib.md5(repr(rows).encode(), usedforsecurity=False).hexdigest()
