"""The wiring is printable and kept in one place per app: `manage.py wiring`, the README's copy of
it, one `handlers.register()` per app, and no app reacting to its own events."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import CommandError, call_command

from kernel import events, exports, health, wiring
from kernel.management.commands import wiring as wiring_command
from realtime import registry

BASE = Path(settings.BASE_DIR)
DOMAIN_APPS = ["accounts", "tasks", "challenges", "gamification", "analytics", "integrations", "notifications", "realtime"]


def test_readme_holds_the_current_wiring_table():
    readme = (BASE / "README.md").read_text()
    copy = wiring_command.readme_copy(readme)
    assert copy is not None, "README.md has lost its wiring block"
    assert copy == wiring_command.readme_block(wiring_command.render()), (
        "README.md's wiring table is stale: run `python manage.py wiring --write-readme`"
    )


def test_check_readme_fails_on_a_stale_copy(tmp_path, monkeypatch):
    stale = tmp_path / "README.md"
    older = wiring_command.readme_block("an older table\n")
    stale.write_text(f"intro\n{older}\nrest\n")
    monkeypatch.setattr(wiring_command, "README", stale)
    with pytest.raises(CommandError, match="stale"):
        call_command("wiring", "--check-readme")
    call_command("wiring", "--write-readme")
    call_command("wiring", "--check-readme")
    assert stale.read_text().startswith("intro\n") and stale.read_text().endswith("\nrest\n")


def test_the_table_names_subscribers_contributors_and_beat_jobs(capsys):
    call_command("wiring")
    out = capsys.readouterr().out
    assert "  task.created  (tasks.events.TaskCreated)\n      txn    challenges.handlers.on_task_created\n" in out
    assert "      challenge_id: challenges.selectors.latest_challenge_of_task\n" in out
    assert "      leaderboard: gamification.handlers.any_signed_in_user\n" in out
    assert "      hint-request: challenges.sessions.socket.hint_request\n" in out
    assert "  deepiri-drain-outbox: deepiri.drain_outbox, every 5 s\n" in out


def test_every_registry_entry_names_its_contributor():
    contributed = {(c.registry, c.key) for c in wiring.contributions()}
    for name in exports._sections:
        assert ("export sections", name) in contributed
    for name in registry.rooms():
        assert ("socket rooms", name) in contributed
    for name in registry.commands():
        assert ("socket commands", name) in contributed
    assert ("health checks", "mongo") in contributed and "mongo" in health.CHECKS


@pytest.mark.parametrize("label", DOMAIN_APPS)
def test_ready_is_one_call_to_handlers_register(label):
    """Each app attaches everything in `<app>/handlers.py: register()`; its `ready()` only calls
    that (an import line and the call)."""
    config = apps.get_app_config(label)
    source = (Path(config.path) / "apps.py").read_text()
    ready = next(
        node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.FunctionDef) and node.name == "ready"
    )
    statements = [ast.unparse(node) for node in ready.body]
    assert statements == [f"from {label} import handlers", "handlers.register()"]
    for other_name in ("subscribers.py", "receivers.py"):
        assert not (Path(config.path) / other_name).exists()



def _app_of(module: str) -> str:
    return module.split(".", 1)[0]


def test_no_app_subscribes_to_its_own_events():
    """An app's own follow-up is a direct call or a job queued by name, never an event to itself."""
    own = [
        f"{event_type.name} -> {wiring.describe(handler)}"
        for event_type, handler, _ in events.subscriptions()
        if _app_of(event_type.__module__) == _app_of(wiring.describe(handler))
    ]
    assert own == []
