"""The AI client against a real HTTP fake of cyrex: timeouts, retries, Retry-After, the shared
circuit breaker and response validation."""

from __future__ import annotations

import socket
import time

import pytest

from challenges.ai_client import AIClient, AIServiceError
from challenges.types import TaskSpec

TASK = TaskSpec(title="Fix the flaky payment test", description="", type="manual", estimated_duration=None)


def test_generate_sends_key_and_validates(cyrex):
    result = AIClient().request_challenge(TASK)
    assert result.source == "ai"
    assert result.type == "coding_challenge"
    assert result.title == "Complete: Fix the flaky payment test"
    assert (result.difficulty, result.difficulty_score, result.points_reward) == ("medium", 5, 250)
    assert result.configuration["time_limit"] == 30
    assert result.configuration["milestones"] == []
    assert result.classification.type == "code" and result.classification.source == "ai"
    assert len(result.request_id) == 36
    [request] = cyrex.requests
    assert request["path"] == "/agent/challenge/generate"
    assert request["headers"]["x-api-key"] == "test-key"
    assert request["json"] == {
        "task": {"title": TASK.title, "description": None, "type": "manual", "estimatedDuration": None}
    }


def test_classify(cyrex):
    result = AIClient().classify_task("Read chapter 5 of the algorithms book", "Take notes on graphs")
    assert (result.type, result.complexity, result.estimated_duration, result.source) == ("study", "medium", 30, "ai")
    assert cyrex.requests[0]["path"] == "/agent/task/classify"
    assert cyrex.requests[0]["json"] == {"task": "Read chapter 5 of the algorithms book", "description": "Take notes on graphs"}


def test_quirks_are_mapped_not_saved_raw(cyrex):
    cyrex.set(quirks={"difficulty": "very_hard", "classification_type": "meeting", "milestones": True, "points": 1500})
    result = AIClient().request_challenge(TASK)
    assert result.difficulty == "very_hard" and result.difficulty_score == 9
    assert result.points_reward == 1500
    assert [m["progress"] for m in result.configuration["milestones"]] == [25, 50, 75]
    assert result.classification.type == "meeting"


def test_out_of_range_values_clamped_and_junk_dropped(cyrex):
    cyrex.set(
        data_override={
            "difficulty": "Very Hard",
            "difficultyScore": 42,
            "pointsReward": 10**9,
            "title": "x" * 500,
            "configuration": {
                "timeLimit": -5,
                "hints": ["one", {"not": "a hint"}, "", "two"],
                "questions": [
                    {"question": "ok?", "options": ["a", "b"], "correctAnswer": 1, "points": 5},
                    {"question": "no options", "options": [], "correctAnswer": 0},
                    {"question": "answer out of range", "options": ["a", "b"], "correctAnswer": 7},
                    "garbage",
                ],
                "milestones": [{"name": "half", "progress": 250, "points": -3}, {"progress": 10}],
            },
            "taskClassification": {"type": "interpretive", "complexity": "galactic", "estimated_duration": "NaN"},
        }
    )
    result = AIClient().request_challenge(TASK)
    assert result.difficulty == "very_hard"
    assert result.difficulty_score == 10
    assert result.points_reward == 2000
    assert len(result.title) == 200
    assert result.configuration["time_limit"] == 1
    assert result.configuration["hints"] == ["one", "two"]
    assert result.configuration["questions"] == [
        {"question": "ok?", "options": ["a", "b"], "correct_answer": 1, "points": 5}
    ]
    assert result.configuration["milestones"] == [{"name": "half", "progress": 100, "points": 0}]
    assert (result.classification.type, result.classification.complexity) == ("manual", "medium")
    assert result.classification.estimated_duration == 30


def test_unknown_challenge_type_is_rejected(cyrex):
    cyrex.set(mode="bad_data")
    with pytest.raises(AIServiceError) as err:
        AIClient().request_challenge(TASK)
    assert err.value.reason == "bad_response"


def test_500_is_retried_a_bounded_number_of_times(cyrex):
    cyrex.set(mode="500")
    with pytest.raises(AIServiceError) as err:
        AIClient().request_challenge(TASK)
    assert err.value.reason == "http_500"
    assert cyrex.count() == 3  # 1 + AI_SERVICE_MAX_RETRIES


def test_transient_500_then_success(cyrex):
    cyrex.set(mode="500", fail_times=1)
    assert AIClient().request_challenge(TASK).source == "ai"
    assert cyrex.count() == 2


def test_bad_key_plain_text_500(cyrex, settings):
    settings.AI_SERVICE_API_KEY = "wrong"
    with pytest.raises(AIServiceError) as err:
        AIClient().request_challenge(TASK)
    assert err.value.reason == "http_500"
    assert "Internal Server Error" in str(err.value)


def test_malformed_json_is_not_retried(cyrex):
    cyrex.set(mode="malformed")
    with pytest.raises(AIServiceError) as err:
        AIClient().request_challenge(TASK)
    assert err.value.reason == "bad_response"
    assert cyrex.count() == 1


def test_slow_service_times_out_within_budget(cyrex, settings):
    settings.AI_SERVICE_READ_TIMEOUT = 0.3
    settings.AI_SERVICE_TOTAL_TIMEOUT = 1.0
    cyrex.set(mode="slow", delay=10)
    started = time.monotonic()
    with pytest.raises(AIServiceError) as err:
        AIClient().request_challenge(TASK)
    elapsed = time.monotonic() - started
    assert err.value.reason == "timeout"
    assert elapsed < 1.5, elapsed  # the whole call, retries included, stays inside the budget
    assert 1 <= cyrex.count() <= 3


def test_429_honours_retry_after(cyrex):
    cyrex.set(mode="429", retry_after=1, fail_times=1)
    started = time.monotonic()
    assert AIClient().request_challenge(TASK).source == "ai"
    assert time.monotonic() - started >= 1.0
    assert cyrex.count() == 2


def test_retry_after_longer_than_allowed_gives_up_at_once(cyrex, settings):
    settings.AI_SERVICE_MAX_RETRY_AFTER = 2
    cyrex.set(mode="429", retry_after=120)
    started = time.monotonic()
    with pytest.raises(AIServiceError) as err:
        AIClient().request_challenge(TASK)
    assert err.value.reason == "http_429"
    assert cyrex.count() == 1
    assert time.monotonic() - started < 0.5


def test_404_is_not_retried_and_paths_are_configurable(cyrex, settings):
    settings.AI_SERVICE_GENERATE_PATH = "/generate-challenge"  # what the design docs promised
    with pytest.raises(AIServiceError) as err:
        AIClient().request_challenge(TASK)
    assert err.value.reason == "http_404"
    assert [r["path"] for r in cyrex.requests] == ["/generate-challenge"]


def test_service_down(settings):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.AI_SERVICE_URL = f"http://127.0.0.1:{port}"
    settings.AI_SERVICE_BACKOFF = 0.01
    with pytest.raises(AIServiceError) as err:
        AIClient().request_challenge(TASK)
    assert err.value.reason == "connection"


def test_not_configured(no_ai):
    with pytest.raises(AIServiceError) as err:
        AIClient().request_challenge(TASK)
    assert err.value.reason == "not_configured"


def test_circuit_opens_and_is_shared_then_half_opens(cyrex, settings):
    settings.AI_BREAKER_THRESHOLD = 2
    settings.AI_BREAKER_COOLDOWN = 0.5
    settings.AI_SERVICE_MAX_RETRIES = 0
    cyrex.set(mode="500")
    for _ in range(2):
        with pytest.raises(AIServiceError):
            AIClient().request_challenge(TASK)
    assert cyrex.count() == 2
    # a fresh client (as another worker process would build) sees the open circuit in Redis
    other = AIClient()
    assert other.breaker.state() == "open"
    with pytest.raises(AIServiceError) as err:
        other.request_challenge(TASK)
    assert err.value.reason == "circuit_open"
    with pytest.raises(AIServiceError):
        other.classify_task("x")
    assert cyrex.count() == 2  # nothing reached the server during the cool-down

    time.sleep(0.6)
    assert other.breaker.state() == "half_open"
    with pytest.raises(AIServiceError) as err:  # the probe fails: open again
        other.request_challenge(TASK)
    assert err.value.reason == "http_500"
    assert other.breaker.state() == "open"
    assert cyrex.count() == 3

    time.sleep(0.6)
    cyrex.set(mode="ok")
    assert AIClient().request_challenge(TASK).source == "ai"  # the probe succeeds: closed
    assert other.breaker.state() == "closed"


def test_breaker_fails_open_when_redis_is_down(cyrex):
    import redis

    from kernel.http import CircuitBreaker

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = redis.Redis(port=port, socket_connect_timeout=0.2, socket_timeout=0.2)
    breaker = CircuitBreaker("cyrex.test", threshold=1, window=60, cooldown=60, probe_ttl=5, client=dead)
    breaker.record_failure()  # logged, not raised
    assert breaker.allow() is True and breaker.state() == "closed"
    assert AIClient(breaker=breaker).request_challenge(TASK).source == "ai"  # calls still go through


def test_a_hanging_service_opens_the_breaker_after_the_slow_threshold(cyrex, settings):
    settings.AI_BREAKER_THRESHOLD = 10  # far away: only slowness can open the circuit here
    settings.AI_BREAKER_SLOW_THRESHOLD = 2
    settings.AI_SERVICE_TOTAL_TIMEOUT = 5.0
    cyrex.set(mode="slow", delay=30)
    for _ in range(2):
        with pytest.raises(AIServiceError) as err:
            AIClient().request_challenge(TASK)
        assert err.value.reason == "timeout"
    assert cyrex.count() == 2  # a read timeout is not retried: the service is hanging
    with pytest.raises(AIServiceError) as err:
        AIClient().classify_task("x")
    assert err.value.reason == "circuit_open"
    assert cyrex.count() == 2


def test_slow_answers_in_a_row_open_the_breaker_and_a_fast_one_resets_the_count(cyrex, settings):
    settings.AI_BREAKER_THRESHOLD = 10
    settings.AI_BREAKER_SLOW_THRESHOLD = 3
    settings.AI_BREAKER_SLOW_SECONDS = 0.2
    settings.AI_SERVICE_READ_TIMEOUT = 2.0
    settings.AI_SERVICE_TOTAL_TIMEOUT = 3.0
    client = AIClient()
    cyrex.set(mode="slow", delay=0.4)  # answers, late
    for _ in range(2):
        assert client.request_challenge(TASK).source == "ai"
    cyrex.set(mode="ok")
    assert client.request_challenge(TASK).source == "ai"  # fast: the slow calls are no longer in a row
    cyrex.set(mode="slow", delay=0.4)
    for _ in range(2):
        assert client.request_challenge(TASK).source == "ai"
    assert client.breaker.state() == "closed"
    assert client.request_challenge(TASK).source == "ai"  # the third slow one in a row...
    assert client.breaker.state() == "open"  # ...cuts the service off
    with pytest.raises(AIServiceError) as err:
        client.request_challenge(TASK)
    assert err.value.reason == "circuit_open"
