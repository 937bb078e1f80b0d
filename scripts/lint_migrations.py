"""The migration gate (docs/CONVENTIONS.md, "Migrations"): every migration added since the
previous release (deploy/previous-release) must pass django-migration-linter (backward
compatibility of the SQL and of data migrations) and squawk (locking hazards of the SQL that
`sqlmigrate` prints for PostgreSQL), unless the migration itself waives a finding with a reason:

    class Migration(migrations.Migration):
        lint_waivers = {
            "squawk:require-concurrent-index-creation": "new empty table: nothing to lock",
        }

Keys are `linter:<CODE>` or `squawk:<rule>`. Migrations older than the previous release were
deployed before the rule and are not linted again (`--all` lints them anyway, to look).
Also checked: one leaf migration per app (django-linear-migrations' max_migration.txt, through
`manage.py check`) and no model change without its migration (`makemigrations --check`).

Usage: scripts/lint-migrations.sh [--since COMMIT | --all]   (needs DATABASE_URL=postgres://...)
Exit 0 when clean, 1 on findings, 2 when it cannot run.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import django
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django_migration_linter import MigrationLinter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deepiri.settings_test")

MIGRATION_FILE = re.compile(r"(^|/)migrations/\d{4}_\w+\.py$")
WAIVER_KINDS = ("linter", "squawk")


def fail(message: str, code: int = 2):
    print(f"lint-migrations: {message}", file=sys.stderr)
    sys.exit(code)


def git(*args: str) -> str:
    result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)  # noqa: S603, S607 - git from PATH, fixed args
    if result.returncode != 0:
        raise RuntimeError(result.stderr.strip() or f"git {' '.join(args)} failed")
    return result.stdout


def previous_release() -> str:
    return (ROOT / "deploy" / "previous-release").read_text().split()[0]


def changed_migration_paths(since: str) -> set[str]:
    try:
        git("cat-file", "-e", f"{since}^{{commit}}")
    except RuntimeError:
        fail(
            f"commit {since} (the previous release) is not in this clone; a shallow clone needs "
            "`git fetch --unshallow` (or a deeper fetch) before the gate can tell new migrations from old."
        )
    added = git("diff", "--name-only", "--diff-filter=AR", since, "--").split()
    untracked = git("ls-files", "--others", "--exclude-standard").split()
    modified = [p for p in git("diff", "--name-only", "--diff-filter=M", since, "--").split() if MIGRATION_FILE.search(p)]
    for path in modified:
        # Databases that applied it never run it again: only a change to its reverse (or to
        # Python-only parts) has any effect. Said, so that a reviewer looks.
        print(f"note: {path} was deployed in the previous release and has changed since (not linted again)")
    return {p for p in added + untracked if MIGRATION_FILE.search(p)}


def waivers_of(migration) -> tuple[dict[str, list[str]], list[str]]:
    """{"linter": [codes], "squawk": [rules]} and the problems with the declaration itself."""
    declared = getattr(migration, "lint_waivers", {}) or {}
    found: dict[str, list[str]] = {kind: [] for kind in WAIVER_KINDS}
    problems = []
    if not isinstance(declared, dict):
        return found, ["lint_waivers must be a dict of 'tool:code' -> reason"]
    for key, reason in declared.items():
        kind, _, code = str(key).partition(":")
        if kind not in WAIVER_KINDS or not code:
            problems.append(f"waiver {key!r}: the key must be 'linter:<CODE>' or 'squawk:<rule>'")
        elif not isinstance(reason, str) or len(reason.strip()) < 10:
            problems.append(f"waiver {key!r}: give the reason (a sentence), not {reason!r}")
        else:
            found[kind].append(code)
    return found, problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--since", help="lint migrations added since this commit (default: deploy/previous-release)")
    group.add_argument("--all", action="store_true", help="lint every first-party migration")
    args = parser.parse_args()

    squawk = shutil.which("squawk") or str(Path(sys.executable).parent / "squawk")
    if not Path(squawk).exists():
        fail("squawk is not installed (requirements-dev.txt: squawk-cli)")

    django.setup()

    logging.getLogger("django_migration_linter").setLevel(logging.WARNING)  # one INFO line per sqlmigrate

    if connection.vendor != "postgresql":
        fail("the gate lints PostgreSQL's SQL: set DATABASE_URL=postgres://...")

    since = None if args.all else (args.since or previous_release())
    wanted = None if since is None else changed_migration_paths(since)
    loader = MigrationLoader(None, ignore_no_migrations=True)
    targets = []
    for _key, migration in sorted(loader.disk_migrations.items()):
        path = Path(sys.modules[migration.__module__].__file__).resolve()
        if not path.is_relative_to(ROOT) or ".venv" in path.parts:
            continue  # third-party apps
        rel = path.relative_to(ROOT).as_posix()
        if wanted is None or rel in wanted:
            targets.append((rel, migration))

    project_excluded = tomllib.loads((ROOT / ".squawk.toml").read_text()).get("excluded_rules", [])
    problems: list[str] = []
    scope = "every migration" if since is None else f"migrations added since {since[:12]}"
    print(f"== migration gate: {len(targets)} {scope}")
    with tempfile.TemporaryDirectory() as tmp:
        for rel, migration in targets:
            label = f"{migration.app_label}.{migration.name}"
            waived, declaration_problems = waivers_of(migration)
            problems += [f"{rel}: {p}" for p in declaration_problems]

            linter = MigrationLinter(
                str(ROOT),
                no_cache=True,
                all_warnings_as_errors=True,  # a data migration without a reverse is a finding too
                exclude_migration_tests=waived["linter"],
            )
            linter.lint_migration(migration)
            if linter.has_errors:
                problems.append(f"{rel}: django-migration-linter findings (above)")

            out = io.StringIO()
            call_command("sqlmigrate", migration.app_label, migration.name, stdout=out)
            sql_file = Path(tmp) / f"{migration.app_label}__{migration.name}.sql"
            sql_file.write_text(out.getvalue())
            major = connection.pg_version // 10000
            command = [squawk, "--reporter=gcc", f"--config={ROOT / '.squawk.toml'}", f"--pg-version={major}", str(sql_file)]
            if waived["squawk"]:
                # --exclude replaces the config file's list rather than adding to it.
                command.append("--exclude=" + ",".join(project_excluded + waived["squawk"]))
            result = subprocess.run(command, capture_output=True, text=True)  # noqa: S603 - our venv's squawk on our file
            print(f"-- squawk {label}: {'ok' if result.returncode == 0 else 'FINDINGS'}")
            if result.returncode != 0:
                print(result.stdout + result.stderr)
                problems.append(f"{rel}: squawk findings (above)")

    print("== one leaf per app (max_migration.txt) and system checks")
    if "django_linear_migrations" not in settings.INSTALLED_APPS:
        fail("django-linear-migrations is not installed (requirements-dev.txt)")
    try:
        call_command("check", fail_level="ERROR")
    except Exception as exc:  # noqa: BLE001 - SystemCheckError: its message lists the checks
        problems.append(f"manage.py check: {exc}")
    print("== models without their migration (makemigrations --check)")
    try:
        call_command("makemigrations", check=True, dry_run=True, verbosity=1)
    except SystemExit as exc:
        if exc.code:
            problems.append("a model change has no migration: run `manage.py makemigrations`")

    if problems:
        print("\nMigration gate FAILED:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print("Migration gate passed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
