"""POST /api/challenges/generate with the AI service absent, healthy, quirky, failing, slow,
down, and with the circuit open: every case gives a playable challenge."""

from __future__ import annotations

import socket
import time

import pytest

from challenges.models import Challenge
from kernel import events
from tasks.models import Task
from tasks.serializers import task_to_dict
from tasks.services import create_task

pytestmark = pytest.mark.django_db
# Generation is dispatched after commit (inline Celery here): tests of the 201 path commit for real.
committing = pytest.mark.django_db(transaction=True)


@pytest.fixture
def task(user):
    return create_task(user, title="Fix the flaky payment test", estimated_duration=45, understand=False)


def generate(client, task_id, **extra):
    # These tests make several challenges for one task on purpose: ask for another each time.
    return client.post("/api/challenges/generate", {"taskId": task_id, "new": True, **extra}, format="json")


def ok(response, status=201):
    assert response.status_code == status, response.json()
    return response.json()["data"]


@pytest.fixture
def generated(auth_client, django_capture_on_commit_callbacks):
    """POST generate inside the test's (rolled-back) transaction: the after-commit dispatch runs
    once the request is over (the request never waits for it: 202), and the finished challenge
    is read back."""

    def run(task_id, **extra):
        with django_capture_on_commit_callbacks(execute=True):
            data = ok(generate(auth_client, task_id, **extra), 202)
        assert data["status"] == "generating"
        return ok(auth_client.get(f"/api/challenges/{data['id']}"), 200)

    return run


@committing
def test_without_ai_service_uses_the_fallback(auth_client, task, no_ai):
    with events.capture() as seen:
        data = ok(generate(auth_client, task.pk))
    assert data["status"] == "pending"
    assert data["aiMetadata"]["source"] == "fallback"
    assert data["aiMetadata"]["fallbackReason"] == "not_configured"
    assert data["aiGenerated"] is False
    assert data["type"] == "coding_challenge"
    assert data["taskId"] == {"_id": task.pk, "id": task.pk, "title": task.title, "description": ""}
    assert data["configuration"]["codeTemplate"]
    assert data["configuration"]["hints"] == [] and data["configuration"]["hintsTotal"] >= 2
    assert [e.name for e in seen if e.name.startswith("challenge.")] == ["challenge.generated"]
    assert auth_client.get(f"/api/tasks/{task.pk}").json()["data"]["challengeId"] == data["id"]


@committing
def test_with_the_ai_service(auth_client, task, cyrex):
    data = ok(generate(auth_client, task.pk))
    assert data["aiMetadata"]["source"] == "ai"
    assert data["aiGenerated"] is True
    assert len(data["aiMetadata"]["requestId"]) == 36
    assert (data["type"], data["difficulty"], data["difficultyScore"], data["pointsReward"]) == (
        "coding_challenge", "medium", 5, 250)
    assert data["title"] == "Complete: Fix the flaky payment test"
    assert data["configuration"]["timeLimit"] == 30
    # what the service leaves out and the type needs comes from the rules
    assert data["configuration"]["codeTemplate"] and data["configuration"]["testCases"]
    assert data["configuration"]["hintsTotal"] >= 2
    request = next(r for r in cyrex.requests if r["path"] == "/agent/challenge/generate")
    assert request["headers"]["x-api-key"] == "test-key"
    assert request["json"]["task"] == {"title": task.title, "description": None, "type": "manual",
                                       "estimatedDuration": 45}


def test_service_quirks_are_stored_valid(auth_client, generated, task, cyrex):
    cyrex.set(quirks={"difficulty": "very_hard", "milestones": True, "points": 1500})
    data = generated(task.pk)
    assert data["difficulty"] == "very_hard" and data["difficultyScore"] == 9 and data["pointsReward"] == 1500
    assert [m["progress"] for m in data["configuration"]["milestones"]] == [25, 50, 75]
    Challenge.objects.get(pk=data["id"]).full_clean()  # what was stored passes the model's validation


def test_requested_type_and_difficulty_win(auth_client, generated, task, cyrex):
    data = generated(task.pk, type="quiz", difficulty="hard")
    assert data["aiMetadata"]["source"] == "ai"
    assert data["type"] == "quiz" and data["difficulty"] == "hard"
    questions = data["configuration"]["questions"]
    assert questions and all(0 <= q["correctAnswer"] < len(q["options"]) for q in questions)


@pytest.mark.parametrize(
    ("switches", "reason"),
    [
        ({"mode": "500"}, "http_500"),
        ({"mode": "401"}, "http_500"),  # the real service answers a bad key with a plain-text 500
        ({"mode": "malformed"}, "bad_response"),
        ({"mode": "bad_data"}, "bad_response"),
    ],
)
def test_failing_service_gives_a_fallback_challenge(auth_client, generated, task, cyrex, switches, reason):
    cyrex.set(**switches)
    data = generated(task.pk)
    assert data["status"] == "pending"
    assert data["aiMetadata"]["source"] == "fallback"
    assert data["aiMetadata"]["fallbackReason"] == reason
    assert data["configuration"]["hintsTotal"] >= 2


def test_wrong_api_key(auth_client, generated, task, cyrex, settings):
    settings.AI_SERVICE_API_KEY = "wrong"
    data = generated(task.pk)
    assert data["aiMetadata"]["source"] == "fallback"


def test_slow_service_times_out_within_the_budget(auth_client, generated, task, cyrex, settings):
    settings.AI_SERVICE_READ_TIMEOUT = 0.3
    settings.AI_SERVICE_TOTAL_TIMEOUT = 1.0
    cyrex.set(mode="slow", delay=10)
    started = time.monotonic()
    data = generated(task.pk)
    assert time.monotonic() - started < 2.5
    assert data["aiMetadata"]["fallbackReason"] == "timeout"


def test_service_down(auth_client, generated, task, settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.AI_SERVICE_URL = f"http://127.0.0.1:{port}"
    settings.AI_SERVICE_BACKOFF = 0.01
    data = generated(task.pk)
    assert data["aiMetadata"]["fallbackReason"] == "connection"


def test_circuit_opens_after_repeated_failures(auth_client, generated, task, cyrex, settings):
    settings.AI_BREAKER_THRESHOLD = 2
    settings.AI_SERVICE_MAX_RETRIES = 0
    cyrex.set(mode="500")
    for _ in range(2):
        assert generated(task.pk)["aiMetadata"]["fallbackReason"] == "http_500"
    calls = cyrex.count()
    cyrex.set(mode="ok")  # recovered, but we are in the cool-down: no call reaches it
    data = generated(task.pk)
    assert data["aiMetadata"]["fallbackReason"] == "circuit_open"
    assert cyrex.count() == calls


@pytest.mark.parametrize(
    ("payload", "field"),
    [({}, "taskId"), ({"taskId": ""}, "taskId"), ({"taskId": "x", "type": "dance"}, "type"),
     ({"taskId": "x", "difficulty": "impossible"}, "difficulty"), ({"taskId": ["a"]}, "taskId")],
)
def test_bad_input(auth_client, payload, field):
    response = auth_client.post("/api/challenges/generate", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert Challenge.objects.count() == 0


def test_someone_elses_or_missing_task_is_404(auth_client, other_user):
    theirs = create_task(other_user, title="Bob's", understand=False)
    for task_id in (theirs.pk, "f" * 24, "nope"):
        response = generate(auth_client, task_id)
        assert response.status_code == 404
        assert response.json()["success"] is False
    assert Challenge.objects.count() == 0
    assert task_to_dict(Task.objects.get(pk=theirs.pk))["challengeId"] is None


@pytest.fixture
def broker_down():
    """Celery publishes to a broker nobody listens on (connection refused)."""
    from deepiri.celery import app

    saved = app.conf.task_always_eager, app.conf.broker_url, app.conf.broker_transport_options
    app.conf.task_always_eager = False
    app.conf.broker_url = "redis://127.0.0.1:9/0"
    app.conf.broker_transport_options = {}
    app._pool = app.amqp._producer_pool = None  # connections are cached per broker URL
    try:
        yield
    finally:
        app.conf.task_always_eager, app.conf.broker_url, app.conf.broker_transport_options = saved
        app._pool = app.amqp._producer_pool = None


@committing
def test_broker_down_still_gives_a_challenge(auth_client, task, no_ai, broker_down):
    data = ok(generate(auth_client, task.pk))
    assert data["status"] == "pending"
    assert data["aiMetadata"]["fallbackReason"] == "broker_unavailable"


def test_export_includes_tasks_and_challenges(auth_client, generated, task, no_ai):
    challenge = generated(task.pk)
    response = auth_client.get("/api/users/export")
    assert response.status_code == 200
    data = response.json()["data"]
    assert [t["id"] for t in data["tasks"]] == [task.pk]
    assert [c["id"] for c in data["challenges"]] == [challenge["id"]]
