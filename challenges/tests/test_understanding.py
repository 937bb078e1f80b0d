"""Task understanding (the `challenges.understand_task` Celery job, challenges' reaction to a
created task): classification from the AI service, or the rules when it fails; the task's type
follows only while the user has not set it."""

from __future__ import annotations

import pytest

from challenges.tasks import understand_task
from tasks.models import Task
from tasks.services import create_task

pytestmark = pytest.mark.django_db


def test_ai_classification_fills_the_task(user, cyrex):
    cyrex.set(quirks={"classification_type": "research", "difficulty": "very_hard"})
    task = create_task(user, title="Compare three hosting vendors", understand=False)
    result = understand_task.delay(task.pk).get()
    task.refresh_from_db()
    assert result == task.classification
    assert task.classification["source"] == "ai"
    assert (task.classification["type"], task.classification["complexity"]) == ("research", "very_hard")
    assert task.type == "research"
    [request] = cyrex.requests
    assert request["path"] == "/agent/task/classify" and request["json"] == {"task": "Compare three hosting vendors"}


def test_user_set_type_is_kept(user, cyrex):
    cyrex.set(quirks={"classification_type": "meeting"})
    task = create_task(user, title="Weekly sync", type="admin", understand=False)
    understand_task.delay(task.pk)
    task.refresh_from_db()
    assert task.classification["type"] == "meeting" and task.type == "admin"


def test_imported_type_is_kept(user, no_ai):
    task = create_task(user, title="Implement the API", type="github", source="github", source_id="1",
                       understand=False)
    understand_task.delay(task.pk)
    task.refresh_from_db()
    assert task.classification["type"] == "code" and task.type == "github"


@pytest.mark.parametrize("mode", ["500", "401", "malformed"])
def test_failing_service_falls_back_to_rules(user, cyrex, mode):
    cyrex.set(mode=mode)
    task = create_task(user, title="Read chapter 5 of the algorithms book", understand=False)
    understand_task.delay(task.pk)
    task.refresh_from_db()
    assert task.classification["source"] == "fallback"
    assert task.classification["type"] == "study" and task.type == "study"


def test_deleted_task_is_a_no_op(user, no_ai):
    task = create_task(user, title="Gone", understand=False)
    Task.objects.filter(pk=task.pk).delete()
    assert understand_task.delay(task.pk).get() is None
