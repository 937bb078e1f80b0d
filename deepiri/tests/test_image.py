"""What the production image gets, read from the Dockerfile and .dockerignore as `docker build`
reads them (docker's own matcher), and proof that the processes start from exactly that.

The test harness, the local supervisor (devtools/), the tests and the dev requirements stay out;
the web, socket and Celery processes must then start without them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from docker.utils.build import exclude_paths

from devtools.testing.daphne import database_url_for

ROOT = Path(__file__).resolve().parents[2]
DEV_ONLY_PACKAGES = ("devtools", "pytest", "pytest_django", "playwright", "schemathesis", "hypothesis", "locust")


def dockerfile_copies(dockerfile: Path) -> list[list[str]]:
    """The sources of each COPY/ADD from the build context (not `--from` another stage)."""
    copies, line = [], ""
    for raw in dockerfile.read_text().splitlines():
        stripped = raw.strip()
        if not line and (not stripped or stripped.startswith("#")):
            continue
        line += " " + stripped.rstrip("\\")
        if stripped.endswith("\\"):
            continue
        words = line.split()
        line = ""
        if words[0].upper() in ("COPY", "ADD"):
            args = [w for w in words[1:] if not w.startswith("--")]
            if any(w.startswith("--from") for w in words[1:]):
                continue
            copies.append(args[:-1])  # the last word is the destination
    return copies


def image_files(root: Path = ROOT) -> set[str]:
    """The files of the build context the Dockerfile copies into the image (paths relative to root)."""
    patterns = [p.strip() for p in (root / ".dockerignore").read_text().splitlines()]
    context = set(exclude_paths(str(root), [p for p in patterns if p and not p.startswith("#")], dockerfile="Dockerfile"))
    files = {p for p in context if (root / p).is_file()}
    copied: set[str] = set()
    for sources in dockerfile_copies(root / "Dockerfile"):
        for source in sources:
            source = source.removeprefix("./").rstrip("/")
            if source in ("", "."):
                copied |= files
            else:
                copied |= {f for f in files if f == source or f.startswith(source + "/")}
    return copied


def test_the_image_holds_the_application_and_no_dev_only_code():
    files = image_files()
    shipped = {f.split("/")[0] for f in files}
    assert {"manage.py", "deepiri", "kernel", "templates", "deploy", "requirements.txt", "constraints.txt"} <= shipped
    for app in ("accounts", "tasks", "challenges", "gamification", "analytics", "integrations", "notifications", "realtime"):
        assert f"{app}/apps.py" in files
        assert f"{app}/migrations/__init__.py" in files
    for entry_point in ("deepiri/wsgi.py", "deepiri/asgi.py", "deepiri/celery.py", "deploy/gunicorn.conf.py"):
        assert entry_point in files
    assert "kernel/migrations/0001_roles.py" in files

    dev_only = sorted(
        f
        for f in files
        if f.startswith("devtools/")
        or "tests" in f.split("/")[:-1]
        or f.rsplit("/", 1)[-1] in ("conftest.py", "settings_test.py", "requirements-dev.txt")
    )
    assert dev_only == []


def test_the_listing_sees_what_dockerignore_would_let_through(tmp_path):
    """The listing is docker's matcher over a real context: a context without the exclusions ships the harness."""
    for rel in ("manage.py", "devtools/testing/fakeserver.py", "kernel/tests/test_http.py", "kernel/http.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\nCOPY --from=builder /x /x\nCOPY . .\n")
    (tmp_path / ".dockerignore").write_text("*.pyc\n")
    assert {"devtools/testing/fakeserver.py", "kernel/tests/test_http.py"} <= image_files(tmp_path)
    (tmp_path / ".dockerignore").write_text((ROOT / ".dockerignore").read_text())
    assert image_files(tmp_path) == {"manage.py", "kernel/http.py", "Dockerfile", ".dockerignore"}


_START = """
import importlib.abc, os, sys

DEV_ONLY = set(sys.argv[1].split(","))


class NotInTheImage(importlib.abc.MetaPathFinder):
    # the dev requirements are not installed in the image: importing one must fail here too
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in DEV_ONLY:
            raise ImportError(f"{name} is not in the production image")


sys.meta_path.insert(0, NotInTheImage())

import deepiri.wsgi  # gunicorn: loads settings, every app and the URLconf (runtime.settle)
import deepiri.asgi  # daphne: the websocket routes
from deepiri.celery import app

app.loader.import_default_modules()  # celery worker and beat: every app's task module
exec(compile(open("deploy/gunicorn.conf.py").read(), "deploy/gunicorn.conf.py", "exec"), {})
loaded = sorted(m for m in sys.modules if m.split(".")[0] in DEV_ONLY)
print("loaded:", loaded, "tasks:", len([t for t in app.tasks if not t.startswith("celery.")]))
"""


@pytest.mark.django_db
def test_web_socket_and_celery_processes_start_from_the_image_contents_alone(tmp_path):
    app_dir = tmp_path / "app"
    for rel in image_files():
        (app_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, app_dir / rel)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "DJANGO_", "PYTEST"))},
        "DJANGO_SETTINGS_MODULE": "deepiri.settings",
        "DEBUG": "0",
        "SECRET_KEY": "image-start-check-" + "x" * 40,
        "ALLOWED_HOSTS": "api.example.test",
        "EMAIL_URL": "log://",  # DEBUG off needs a mail backend (the startup check)
        # The processes only load here; the startup check needs a database that exists.
        "DATABASE_URL": database_url_for(connection.settings_dict) if connection.vendor == "postgresql" else "",
    }
    result = subprocess.run(
        [sys.executable, "-c", _START, ",".join(DEV_ONLY_PACKAGES)],
        cwd=app_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "loaded: []" in result.stdout
    assert int(result.stdout.rsplit("tasks:", 1)[1]) > 10  # the apps' jobs were found, not an empty app


@pytest.mark.parametrize("package", ["devtools", "kernel.tests"])
def test_what_the_image_lacks_is_really_absent_from_the_copy(tmp_path, package):
    """The start check would notice an import of what the copy lacks (not just pass by luck)."""
    app_dir = tmp_path / "app"
    for rel in image_files():
        (app_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, app_dir / rel)
    probe = subprocess.run(
        [sys.executable, "-c", f"import {package}"],
        cwd=app_dir,
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode != 0 and "ModuleNotFoundError" in probe.stderr
