"""Gamification test helpers.

`task_stub`/`challenge_stub` are plain values with the attributes of the cross-app contract
(Task/Challenge fields): the service-level tests exercise the rules without depending on the
tasks app; the REST tests in test_e2e_*.py use the real Task and Challenge models."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from kernel.ids import new_id


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """`with commit(): ...` runs the on_commit callbacks registered inside (test transactions
    never commit), as a real commit would."""

    def run():
        return django_capture_on_commit_callbacks(execute=True)

    return run


@pytest.fixture
def task_stub():
    def make(**fields):
        base = {
            "pk": new_id(),
            "priority": "medium",
            "type": "manual",
            "source": "manual",
            "due_date": None,
            "due_date_only": False,
        }
        base.update(fields)
        base["id"] = base["pk"]
        return SimpleNamespace(**base)

    return make


@pytest.fixture
def challenge_stub():
    def make(**fields):
        base = {
            "pk": new_id(),
            "type": "quiz",
            "difficulty": "medium",
            "points_reward": 100,
            "bonus_multiplier": 1.0,
            "score": None,
            "accuracy": None,
            "hints_used": 0,
            "completion_time": None,
            "configuration": {},
            "completed_at": datetime.now(UTC),
            "ai_source": "fallback",
        }
        base.update(fields)
        base["id"] = base["pk"]
        return SimpleNamespace(**base)

    return make
