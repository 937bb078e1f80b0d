"""Upgrade from the previous release (deploy/previous-release), as a deploy does it:

1. the previous release's code migrates a fresh database and is used (upgrade/seed.py, through
   its public API): users, tasks, completions with their ledger, badges and streaks, challenges,
   friends, notifications, an encrypted GitHub connection with imported tasks, issued and
   rotated tokens, a logout;
2. HEAD migrates it; every row that existed is still there, unchanged (per-table checksums over
   the columns that existed before);
3. HEAD's smoke journey runs on it (old tokens, list, complete, leaderboard, a sync against the
   fake GitHub), and so does the previous release's: during a rolling deploy old processes
   serve on the new schema, which is what the expand-only rule (docs/CONVENTIONS.md) promises.

Then, on the same data, each app's latest migration is unapplied and applied again
(upgrade/roundtrip.py): a reverse restores what it removed or refuses on purpose.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter

import psycopg
import pytest

from deepiri.tests.upgrade import harness
from integrations.tests.fakes.github import FakeGitHub

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.timeout(900)]

# Tables that Django keeps up to date on every `migrate`: the new release may add rows (its
# migrations, content types, permissions), never change or remove one.
# The badge catalogue is seeded by data migrations: a release may add badges, never alter one.
GROW_ON_MIGRATE = {"django_migrations", "django_content_type", "auth_permission", "gamification_badge"}
# The role groups' grants are configuration in code (kernel/roles.py), re-synced after every
# migrate: a release may grant or withdraw permissions on purpose.
RESYNCED_ON_MIGRATE = {"auth_group_permissions"}


def _compare(before: dict, after: dict) -> tuple[list[str], list[str]]:
    """(problems, contracted). Per table, the checksum of its rows over the columns still there
    must not change. A table or column the new release dropped (a contract step: the gate asks
    for a written waiver, and the previous release's smoke below proves that release no longer
    needs it) is listed, not compared."""
    problems, contracted = [], []
    for table, old in before.items():
        new = after.get(table)
        if table in RESYNCED_ON_MIGRATE:
            continue
        if new is None:
            contracted.append(table)
            continue
        common = [c for c in old["columns"] if c in new["columns"]]
        contracted += [f"{table}.{c}" for c in old["columns"] if c not in common]
        old_rows, new_rows = harness.projection(old, common), harness.projection(new, common)
        if table in GROW_ON_MIGRATE:
            lost = Counter(old_rows) - Counter(new_rows)
            if lost:
                problems.append(f"{table}: {sum(lost.values())} pre-existing rows changed or removed")
        elif harness.digest(old_rows) != harness.digest(new_rows):
            problems.append(f"{table}: {len(old_rows)} rows before, {len(new_rows)} after, checksums differ")
    return problems, contracted


@pytest.fixture(scope="module")
def upgraded(tmp_path_factory):
    """A database migrated and seeded by the previous release, then migrated by HEAD."""
    tmp = tmp_path_factory.mktemp("upgrade")
    commit = harness.previous_release()
    try:
        old_tree = harness.extract_release(commit, tmp)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    old_python = harness.python_for(old_tree, tmp)
    with harness.scratch_database("upgrade") as url, FakeGitHub(page_size=100) as github:
        for i in range(4):
            github.add_issue(f"Imported issue {i}", labels=["bug"])
        fake = github.settings()
        env = harness.release_env(
            url,
            GITHUB_CLIENT_ID=fake["client_id"],
            GITHUB_CLIENT_SECRET=fake["client_secret"],
            GITHUB_AUTH_BASE=fake["auth_base"],
            GITHUB_API_BASE=fake["api_base"],
            GITHUB_WEBHOOK_SECRET=fake["webhook_secret"],
        )
        figures = {"previous_release": commit[:12]}
        started = time.monotonic()
        result = harness.run_manage(old_python, old_tree, env, "migrate", "--noinput")
        figures["fresh_migrate_seconds_previous_release"] = round(time.monotonic() - started, 1)
        assert result.returncode == 0, result.stderr[-4000:]
        state = harness.run_script(old_python, old_tree, env, "seed.py")
        before = harness.table_rows(url)

        started = time.monotonic()
        result = harness.run_manage(harness.sys.executable, harness.ROOT, env, "migrate", "--noinput")
        figures["upgrade_migrate_seconds"] = round(time.monotonic() - started, 1)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
        figures["migrations_applied_by_upgrade"] = result.stdout.count("Applying ")
        yield {
            "url": url, "env": env, "state": state, "before": before, "figures": figures,
            "old_tree": old_tree, "old_python": old_python, "github": github,
        }


def test_upgrade_from_the_previous_release_keeps_data_and_both_releases_run(upgraded):
    url, env, state, before, figures = (upgraded[k] for k in ("url", "env", "state", "before", "figures"))
    seeded = {t: len(e["rows"]) for t, e in before.items() if e["rows"]}
    for table in ("accounts_user", "tasks_task", "challenges_challenge", "gamification_ledgerentry",
                  "gamification_userbadge", "notifications_notification", "integrations_connection",
                  "integrations_importeditem", "token_blacklist_outstandingtoken"):
        assert seeded.get(table), f"the seed left {table} empty: {sorted(seeded)}"
    assert state["sync_status"] == "succeeded", state

    problems, figures["contracted"] = _compare(before, harness.table_rows(url))
    assert problems == []
    figures["tables_checksummed"] = len(before)
    figures["rows_checksummed"] = sum(len(e["rows"]) for e in before.values())

    # HEAD on the new schema, then the previous release on the same (new) schema.
    github = upgraded["github"]
    github.tick(120)  # the fake's clock: the new issue is newer than the last sync's watermark
    github.add_issue("Synced by HEAD")
    harness.run_script(harness.sys.executable, harness.ROOT, env, "smoke.py", {**state, "who": 1, "new_issue": "Synced by HEAD"})
    github.tick(120)
    github.add_issue("Synced by the previous release")
    harness.run_script(
        upgraded["old_python"], upgraded["old_tree"], env, "smoke.py",
        {**state, "who": 2, "new_issue": "Synced by the previous release"},
    )
    print(f"\nupgrade figures: {json.dumps(figures)}")


def test_latest_migrations_unapply_without_losing_data_or_refuse(upgraded):
    url, env = upgraded["url"], upgraded["env"]
    with psycopg.connect(url) as conn:
        linked = conn.execute("SELECT count(DISTINCT task_id) FROM challenges_challenge").fetchone()[0]
    assert linked, "the seed made no challenges"
    result = subprocess.run(  # noqa: S603
        [harness.sys.executable, str(harness.SCRIPTS / "roundtrip.py")], cwd=harness.ROOT,
        env={**env, "PYTHONPATH": str(harness.ROOT)}, capture_output=True, text=True, timeout=600,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("ROUNDTRIP ")]
    assert result.returncode == 0 and lines, result.stdout[-3000:] + result.stderr[-6000:]
    report = json.loads(lines[-1].removeprefix("ROUNDTRIP "))
    print(f"\nround trips: {json.dumps(report['apps'], indent=1)}")
    assert report["problems"] == []
    # Unapplying tasks 0003 puts Task.challenge back: every task with a challenge links to one
    # again. The round trip unapplies each app's latest migration only, so this holds while 0003
    # is the latest; after it, that migration's own reverse is what the round trip checks.
    if report["apps"]["tasks"].startswith("0003_remove_task_challenge "):
        assert report["restored"]["tasks_task.challenge_id"][0] == linked


def test_a_missing_previous_release_fails_with_the_reason(tmp_path):
    with pytest.raises(RuntimeError, match="shallow clone"):
        harness.extract_release("0" * 40, tmp_path)


def test_diverging_runtime_pins_are_detected(tmp_path):
    """Today both releases share one virtualenv; a release whose pins differ gets its own."""
    (tmp_path / "requirements.txt").write_text("Django==0.0.1  # older\nrequests==2.34.2\n")
    drift = harness.runtime_drift(tmp_path)
    assert len(drift) == 1 and drift[0].startswith("django==0.0.1 (installed: 5.")
    (tmp_path / "requirements.txt").write_text((harness.ROOT / "requirements.txt").read_text())
    assert harness.runtime_drift(tmp_path) == []
