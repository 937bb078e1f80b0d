"""The whole journey over REST — create a task, generate a challenge, start it, take a hint,
complete it — with the AI service absent, healthy, failing or slow; and once on a real Celery
worker process (not eager) against PostgreSQL and Redis."""

from __future__ import annotations

import pytest

from challenges.models import Challenge
from challenges.tests.fake_cyrex import FakeCyrex
from challenges.tests.helpers import poll_generated


def data_of(response, status=200):
    assert response.status_code == status, response.json()
    return response.json()["data"]


def journey(client, *, title="Read chapter 5 of the algorithms book", generate_status=201):
    task = data_of(client.post("/api/tasks", {"title": title, "description": "Take notes on graphs.",
                                              "estimatedDuration": 40, "priority": "high"}, format="json"), 201)
    challenge = data_of(client.post("/api/challenges/generate", {"taskId": task["id"]}, format="json"),
                        generate_status)
    return task, challenge


def play(client, challenge_id):
    started = data_of(client.post(f"/api/challenges/{challenge_id}/start"))
    assert started["status"] == "active" and started["expiresAt"]
    hint = data_of(client.post(f"/api/challenges/{challenge_id}/hint"))
    assert hint["hint"] and hint["hintsUsed"] == 1
    done = data_of(client.post(f"/api/challenges/{challenge_id}/complete",
                               {"completionTime": 120, "score": 90, "accuracy": 95}, format="json"))
    assert done["status"] == "completed" and done["completionData"]["hintsUsed"] == 1
    assert "pointsAwarded" in done["effects"]
    return done


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("ai", ["absent", "healthy", "failing", "slow"])
def test_journey_over_rest(auth_client, settings, ai):
    if ai == "absent":
        settings.AI_SERVICE_URL = ""
        task, challenge = journey(auth_client)
        expected = "fallback"
    else:
        with FakeCyrex(api_key="test-key") as cyrex:
            settings.AI_SERVICE_URL, settings.AI_SERVICE_API_KEY = cyrex.url, "test-key"
            settings.AI_SERVICE_READ_TIMEOUT, settings.AI_SERVICE_TOTAL_TIMEOUT = 0.3, 1.0
            settings.AI_SERVICE_BACKOFF = 0.01
            cyrex.set(mode={"healthy": "ok", "failing": "500", "slow": "slow"}[ai], delay=5)
            task, challenge = journey(auth_client)
        expected = "ai" if ai == "healthy" else "fallback"
    assert challenge["aiMetadata"]["source"] == expected
    assert challenge["taskId"]["id"] == task["id"]
    play(auth_client, challenge["id"])
    listed = data_of(auth_client.get("/api/challenges?status=completed"))
    assert [c["id"] for c in listed] == [challenge["id"]]
    assert data_of(auth_client.get(f"/api/tasks/{task['id']}"))["challengeId"] == challenge["id"]


@pytest.mark.services
def test_generation_on_a_real_celery_worker(auth_client, settings, celery_worker):
    with FakeCyrex(api_key="test-key") as cyrex:
        worker = celery_worker(
            AI_SERVICE_URL=cyrex.url, AI_SERVICE_API_KEY="test-key", AI_SERVICE_READ_TIMEOUT=1,
            AI_SERVICE_TOTAL_TIMEOUT=2, AI_SERVICE_MAX_RETRIES=0,
        )
        # this test process has no AI service configured: an `ai` challenge proves the worker made it
        settings.AI_SERVICE_URL = ""
        # the request never waits for the worker: 202 at once, then the client reads it again
        task, queued = journey(auth_client, title="Fix the flaky payment test", generate_status=202)
        assert queued["status"] == "generating"
        challenge = poll_generated(auth_client, queued["id"])
        assert challenge["status"] == "pending"
        assert challenge["aiMetadata"]["source"] == "ai", worker.output[-3000:]
        assert cyrex.count("/agent/challenge/generate") == 1
        assert "challenges.run_generation" in worker.output
        play(auth_client, challenge["id"])

        # the service turns slow: the worker gives up within its time budget and the fallback
        # fills the challenge
        cyrex.set(mode="slow", delay=10)
        pending = data_of(auth_client.post("/api/challenges/generate", {"taskId": task["id"]}, format="json"), 202)
        assert pending["status"] == "generating"
        poll_generated(auth_client, pending["id"])
        generated = Challenge.objects.get(pk=pending["id"])
        assert (generated.status, generated.ai_source, generated.fallback_reason) == ("pending", "fallback", "timeout")
        play(auth_client, pending["id"])
