"""The migration gate (scripts/lint-migrations.sh) and `migrate`'s bounded lock waits.

The gate runs on a copy of this checkout made into a git repository of its own, so a
deliberately bad migration is "added since the previous release" exactly as a developer's
would be, without touching this checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from deepiri.tests.upgrade import harness

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.timeout(600)]

# The migration below goes on top of the tasks app's current leaf, whichever it is.
TASKS_LEAF = (harness.ROOT / "tasks" / "migrations" / "max_migration.txt").read_text().strip()

BAD_MIGRATION = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("tasks", "{leaf}")]
{waivers}
    operations = [
        # NOT NULL with a default only Python knows: the previous release's INSERTs fail.
        migrations.AddField("task", "archived", models.BooleanField(default=False)),
    ]
'''


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """A copy of the tracked (and new) files, committed as the 'previous release'."""
    copy = tmp_path_factory.mktemp("gate") / "repo"
    files = _git(harness.ROOT, "ls-files", "--cached", "--others", "--exclude-standard").splitlines()
    for rel in files:
        source = harness.ROOT / rel
        if source.is_file():
            (copy / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / rel)
    _git(copy, "init", "-q")
    _git(copy, "add", "-A")
    _git(copy, "-c", "user.email=gate@example.com", "-c", "user.name=gate", "commit", "-q", "-m", "release")
    (copy / "deploy" / "previous-release").write_text(_git(copy, "rev-parse", "HEAD") + "\n")
    # The model gains the field the migrations below add (so makemigrations --check is clean).
    models = copy / "tasks" / "models.py"
    anchor = "    completion_notes = models.TextField("
    text = models.read_text()
    assert anchor in text
    models.write_text(text.replace(anchor, "    archived = models.BooleanField(default=False)\n" + anchor, 1))
    (copy / "tasks" / "migrations" / "max_migration.txt").write_text("0004_archived\n")
    return copy


def _gate(copy: Path, waivers: str = "") -> subprocess.CompletedProcess:
    (copy / "tasks" / "migrations" / "0004_archived.py").write_text(BAD_MIGRATION.format(waivers=waivers, leaf=TASKS_LEAF))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["DATABASE_URL"] = harness.admin_dsn(os.environ["DATABASE_URL"])  # sqlmigrate reads nothing there
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    return subprocess.run(  # noqa: S603
        [sys.executable, "scripts/lint_migrations.py"], cwd=copy, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_gate_fails_on_a_new_not_null_column(checkout):
    result = _gate(checkout)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "1 migrations added since" in out
    assert "NOT NULL constraint on columns" in out  # django-migration-linter
    assert "ban-drop-default" in out  # squawk
    assert "tasks/migrations/0004_archived.py: django-migration-linter findings" in out


def test_a_waiver_in_the_migration_with_its_reason_lets_it_through(checkout):
    waivers = textwrap.indent(
        textwrap.dedent('''
        lint_waivers = {
            "linter:NOT_NULL": "test fixture: the gate honours a waiver written in the migration",
            "squawk:ban-drop-default": "test fixture: the gate honours a waiver written in the migration",
        }
        '''),
        "    ",
    )
    result = _gate(checkout, waivers)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Migration gate passed." in result.stdout


def test_a_waiver_without_a_reason_is_refused(checkout):
    waivers = '    lint_waivers = {"linter:NOT_NULL": "", "squawk:ban-drop-default": "ok"}\n'
    result = _gate(checkout, waivers)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "waiver 'linter:NOT_NULL': give the reason" in out
    assert "waiver 'squawk:ban-drop-default': give the reason" in out


def test_two_leaves_in_one_app_fail_the_gate(checkout):
    sibling = checkout / "tasks" / "migrations" / "0004_sibling.py"
    sibling.write_text(
        "from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n"
        f'    dependencies = [("tasks", "{TASKS_LEAF}")]\n    operations = []\n'
    )
    try:
        result = _gate(checkout, '    lint_waivers = {"linter:NOT_NULL": "see the test above", "squawk:ban-drop-default": "see the test above"}\n')
    finally:
        sibling.unlink()
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "dlm.E001" in out or "dlm.E002" in out or "Conflicting migrations" in out, out


def test_migrate_gives_up_on_a_lock_held_by_traffic_instead_of_queueing(tmp_path):
    """`manage.py migrate` sets lock_timeout on its session: with a long transaction holding a
    lock on the table it must alter, it retries, then fails with the reason, and never waits
    behind it (which would queue every later query on that table behind the DDL)."""
    with harness.scratch_database("locktimeout") as url:
        env = harness.release_env(url)
        python = sys.executable
        assert harness.run_manage(python, harness.ROOT, env, "migrate", "--noinput").returncode == 0
        assert harness.run_manage(python, harness.ROOT, env, "migrate", "tasks", "0002").returncode == 0
        with psycopg.connect(url) as traffic:
            traffic.execute("SELECT count(*) FROM tasks_task")  # an open transaction: ACCESS SHARE until commit
            result = harness.run_manage(
                python, harness.ROOT, env, "migrate", "tasks", "--lock-timeout=300ms", "--lock-retries=1", timeout=120
            )
            assert result.returncode != 0, result.stdout
            assert "lock_timeout=300ms reached; the migration rolled back. Retry 1/1" in result.stderr
            assert "migrate gave up" in result.stderr and "lock timeout" in result.stderr.lower()
            traffic.rollback()
        result = harness.run_manage(python, harness.ROOT, env, "migrate", "tasks", "--lock-timeout=300ms")
        assert result.returncode == 0, result.stderr


@pytest.mark.django_db
def test_migrate_leaves_the_session_with_its_usual_timeouts():
    """The test database was migrated on this connection: the migrate-only budgets are gone."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('lock_timeout'), current_setting('statement_timeout')")
        assert cursor.fetchone() == ("0", "0")
