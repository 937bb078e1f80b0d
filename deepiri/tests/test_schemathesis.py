"""schemathesis over the whole OpenAPI schema against a live server, signed in, on both setups:
the embedded defaults (SQLite file, no Redis) and PostgreSQL + a private Redis. Checks:
`not_a_server_error`, where a 502/503/504 passes only if the body says an external upstream
did not answer (devtools/testing/schemathesis_hooks.py), and the conformance checks (every
answer's body, status, content type and headers are the ones the schema documents), so the
schema a client generates from is the wire.

Bounded: SCHEMATHESIS_MAX_EXAMPLES cases per operation and phase (default 15) with a fixed seed
(SCHEMATHESIS_SEED), so a CI run takes a minute or two per setup. The seeded user owns a task,
a challenge, a notification and a friend, and the path ids point at them, so generated requests
reach the logic rather than a 404; throttles are raised for the run (LiveAPI).

Figures (cases generated, operations tested, failures) are printed and, with
SCHEMATHESIS_FIGURES=<file>, appended there as JSON lines.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.testing.daphne import BASE_DIR
from devtools.testing.liveapi import LiveAPI

# A live server per setup plus the run itself: minutes, not the suite default of 180 s.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

# Deleting the signed-in account, or logging its token out, would turn the rest of the run into 401s.
EXCLUDED = ["/api/users/account", "/api/auth/logout"]


def _postgres_url() -> str:
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/deepiri")
    name = (os.environ.get("TEST_DATABASE_NAME") or "test_deepiri") + "_fuzz"
    return base.rsplit("/", 1)[0] + "/" + name


def _config(path: Path, seeded, deletable: dict) -> Path:
    ids = seeded.ids
    lines = [
        "[checks.not_a_server_error]",
        'expected-statuses = ["2xx", "3xx", "4xx", "502", "503", "504"]',
        "[parameters]",
    ]
    lines += [f'"path.{name}" = "{value}"' for name, value in ids.items() if name != "challenge"]
    # `{id}` is a task on /api/tasks and a challenge on /api/challenges
    lines += ["[[operations]]", 'include-path-regex = "^/api/challenges/[{]id[}]"',
              f'parameters = {{ "path.id" = "{ids["challenge"]}" }}']
    for name, (operation, value) in deletable.items():
        lines += ["[[operations]]", f'include-name = "{operation}"', f'parameters = {{ "path.{name}" = "{value}" }}']
    path.write_text("\n".join(lines) + "\n")
    return path


def figures_from(output: str) -> dict:
    found = {}
    if m := re.search(r"(\d+) generated", output):
        found["cases"] = int(m.group(1))
    if m := re.search(r"Tested:\s+(\d+)", output):
        found["operations_tested"] = int(m.group(1))
    if m := re.search(r"Selected:\s+(\d+)/(\d+)", output):
        found["operations_selected"], found["operations_total"] = int(m.group(1)), int(m.group(2))
    m = re.search(r"(\d+) found (\d+) unique failures?", output)
    found["failures"] = int(m.group(2)) if m else 0
    return found


CRASH_CHECKS = "not_a_server_error,honest_upstream_error"
# The schema must describe the wire: bodies, statuses, content types and headers as documented.
CONFORMANCE_CHECKS = (
    "response_schema_conformance,status_code_conformance,content_type_conformance,response_headers_conformance"
)


def run_schemathesis(
    api: LiveAPI, seeded, deletable: dict, workdir: Path, checks: str = CRASH_CHECKS
) -> tuple[int, str, dict]:
    binary = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
    config = _config(workdir / "schemathesis.toml", seeded, deletable)
    cmd = [
        binary, "--config-file", str(config), "run", f"{api.url}/api/schema/", "--url", api.url,
        "-H", f"Authorization: Bearer {seeded.token}",
        "--checks", checks,
        "--max-examples", os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "15"),
        "--seed", os.environ.get("SCHEMATHESIS_SEED", "20261130"),
        "--workers", "2", "--no-shrink", "--request-timeout", "20",
        "--report", "junit", "--report-dir", str(workdir / "report"),
    ]
    for path in EXCLUDED:
        cmd += ["--exclude-path", path]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "devtools.testing.schemathesis_hooks", "PYTHONPATH": str(BASE_DIR),
           "NO_COLOR": "1", "COLUMNS": "120"}
    result = subprocess.run(  # noqa: S603
        cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=900,
    )
    output = result.stdout + result.stderr
    (workdir / "schemathesis-output.txt").write_text(output)  # the whole report, kept with the run
    return result.returncode, output, figures_from(output)


def _seed_deletables(api: LiveAPI, seeded) -> dict:
    """Separate objects for the DELETE operations, so deleting them leaves the shared ids alive."""
    r = api.call("POST", "/api/tasks", seeded, json={"title": "to be deleted"})
    task_id = r.json()["data"]["_id"]
    other = api.register("delete-me@example.com", "Delete Me")
    api.call("POST", "/api/users/friends", seeded, json={"friendId": other.user_id})
    return {
        "id": ("DELETE /api/tasks/{id}", task_id),
        "friend_id": ("DELETE /api/users/friends/{friend_id}", other.user_id),
    }


def _report(setup: str, figures: dict) -> None:
    line = json.dumps({"setup": setup, **figures})
    print(f"schemathesis figures: {line}")
    if target := os.environ.get("SCHEMATHESIS_FIGURES"):
        with open(target, "a") as fh:
            fh.write(line + "\n")


@pytest.mark.parametrize("setup", ["embedded", pytest.param("postgres", marks=pytest.mark.services)])
def test_schemathesis_finds_no_server_error_and_the_wire_matches_the_schema(setup, tmp_path):
    if setup == "embedded":
        api = LiveAPI.embedded(tmp_path)
    else:
        api = LiveAPI.postgres_redis(tmp_path, _postgres_url())
    with api:
        seeded = api.seed()
        deletable = _seed_deletables(api, seeded)
        code, output, figures = run_schemathesis(
            api, seeded, deletable, tmp_path, checks=f"{CRASH_CHECKS},{CONFORMANCE_CHECKS}"
        )
        log = api.log()
    _report(setup, figures)
    assert code == 0, f"{output[-12000:]}\n--- server log ---\n{log[-4000:]}"
    assert figures.get("cases", 0) > 500, output[-3000:]
    assert figures.get("operations_tested", 0) >= 70, output[-3000:]
    assert "Internal Server Error" not in log
