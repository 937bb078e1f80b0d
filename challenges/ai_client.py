"""The client for the AI service "cyrex" (reference/cyrex.md).

Transport is `kernel.http`: the pooled session, connect/read timeouts and a total budget per
call (`AI_SERVICE_TOTAL_TIMEOUT`, retries and waits included), bounded retries of connection
errors, 5xx and 429 honouring `Retry-After` (a longer wait than `AI_SERVICE_MAX_RETRY_AFTER` is
not attempted), and the circuit breaker of the service's host. A read timeout is not retried and
`AI_BREAKER_SLOW_THRESHOLD` slow calls in a row open the breaker: a hanging service is cut off
after a couple of calls.
An answer we cannot use (a non-2xx status, malformed JSON, a shape we cannot read) counts
against the breaker like a dead service: a service that answers nonsense is as good as down.

This module adds what is cyrex's own: the `x-api-key`, the two paths, and validation of the
JSON into our types (`challenges.types`): unknown or out-of-range values are mapped or clamped,
shapes we cannot use are rejected, nothing is kept raw.

Failures raise `AIServiceError` (with a short `reason`); callers fall back to
the rule-based generator, `challenges.rules`.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from django.conf import settings

from challenges.types import (
    CHALLENGE_TYPES,
    CLASSIFICATION_TYPES,
    COMPLEXITIES,
    DIFFICULTIES,
    Classification,
    GeneratedChallenge,
    TaskSpec,
)
from kernel import http

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_RESPONSE_BYTES = 1_000_000
MAX_POINTS = 2000
MAX_TIME_LIMIT = 480  # minutes


class AIServiceError(Exception):
    """The AI service could not give a usable answer. `reason` is a short code:
    not_configured, circuit_open, timeout, connection, http_<status>, bad_response, budget."""

    def __init__(self, reason: str, message: str = ""):
        super().__init__(message or reason)
        self.reason = reason


# The transport's reasons, in our vocabulary: a body past the cap is an unusable answer.
_TRANSPORT_REASONS = {"too_large": "bad_response"}


@dataclass(frozen=True)
class ClientConfig:
    base_url: str
    api_key: str
    generate_path: str
    classify_path: str
    policy: http.Policy

    @classmethod
    def from_settings(cls) -> ClientConfig:
        return cls(
            base_url=settings.AI_SERVICE_URL.rstrip("/"),
            api_key=settings.AI_SERVICE_API_KEY,
            generate_path=settings.AI_SERVICE_GENERATE_PATH,
            classify_path=settings.AI_SERVICE_CLASSIFY_PATH,
            policy=http.Policy(
                connect_timeout=settings.AI_SERVICE_CONNECT_TIMEOUT,
                read_timeout=settings.AI_SERVICE_READ_TIMEOUT,
                total_timeout=settings.AI_SERVICE_TOTAL_TIMEOUT,
                max_retries=settings.AI_SERVICE_MAX_RETRIES,
                backoff=settings.AI_SERVICE_BACKOFF,
                max_backoff=settings.AI_SERVICE_TOTAL_TIMEOUT,  # the budget is the only cap
                max_retry_after=settings.AI_SERVICE_MAX_RETRY_AFTER,
                # 429 too: cyrex's limit is service-wide, a short wait is worth it
                retry_statuses=http.SERVER_ERRORS | {429},
                breaker_threshold=settings.AI_BREAKER_THRESHOLD,
                breaker_window=settings.AI_BREAKER_WINDOW,
                breaker_cooldown=settings.AI_BREAKER_COOLDOWN,
                slow_threshold=settings.AI_BREAKER_SLOW_THRESHOLD,
                slow_seconds=settings.AI_BREAKER_SLOW_SECONDS,
                retry_read_timeouts=False,
                max_response_bytes=MAX_RESPONSE_BYTES,
                headers={"Accept": "application/json"},
                failures=(AIServiceError,),
            ),
        )


class AIClient:
    def __init__(self, config: ClientConfig | None = None, breaker: http.CircuitBreaker | None = None):
        self.config = config or ClientConfig.from_settings()
        self.breaker = breaker or http.breaker_for(self.config.base_url, self.config.policy)

    @property
    def configured(self) -> bool:
        return bool(self.config.base_url)

    # -- public calls --------------------------------------------------------------------------

    def request_challenge(self, task: TaskSpec) -> GeneratedChallenge:
        body = {
            "task": {
                "title": task.title,
                "description": task.description or None,
                "type": task.type,
                "estimatedDuration": task.estimated_duration,
            }
        }
        started = time.monotonic()
        result, request_id = self._call(
            self.config.generate_path, body, lambda payload: parse_generated_challenge(payload, task)
        )
        if not result.request_id:
            result.request_id = request_id
        if not result.generation_time:
            result.generation_time = round(time.monotonic() - started, 4)
        return result

    def classify_task(self, title: str, description: str = "") -> Classification:
        body = {"task": title}
        if description:
            body["description"] = description
        result, _ = self._call(self.config.classify_path, body, parse_classification_response)
        return result

    # -- transport -----------------------------------------------------------------------------

    def _call(self, path: str, body: dict, parse: Callable[[object], T]) -> tuple[T, str]:
        """POST `body`; returns (parse(decoded JSON), the service's request id)."""
        if not self.configured:
            raise AIServiceError("not_configured", "AI_SERVICE_URL is not set")

        def handle(response) -> tuple[T, str]:
            status = response.status_code
            if not 200 <= status < 300:
                raise AIServiceError(f"http_{status}", f"AI service answered {status}: {response.content[:200]!r}")
            try:
                payload = json.loads(response.content)
            except ValueError as exc:
                raise AIServiceError("bad_response", f"AI service sent malformed JSON: {exc}") from exc
            return parse(payload), response.headers.get("x-request-id", "")

        try:
            return http.request(
                "POST",
                self.config.base_url + path,
                policy=self.config.policy,
                handle=handle,
                breaker=self.breaker,
                data=json.dumps(body).encode(),
                headers={"x-api-key": self.config.api_key, "Content-Type": "application/json"},
            )
        except http.Unavailable as exc:
            reason = _TRANSPORT_REASONS.get(exc.reason, exc.reason)
            raise AIServiceError(reason, f"AI service: {exc}") from exc


# ---------------------------------------------------------------------------------------------
# Validation: the service's JSON -> our types
# ---------------------------------------------------------------------------------------------

CHALLENGE_TYPE_ALIASES = {
    "coding": "coding_challenge",
    "code": "coding_challenge",
    "code_challenge": "coding_challenge",
    "timed": "timed_completion",
    "timer": "timed_completion",
    "completion": "timed_completion",
    "trivia": "quiz",
}
DIFFICULTY_ALIASES = {"very hard": "very_hard", "veryhard": "very_hard", "expert": "very_hard", "extreme": "very_hard",
                      "beginner": "easy", "normal": "medium", "intermediate": "medium", "advanced": "hard",
                      "difficult": "hard"}
CLASSIFICATION_TYPE_ALIASES = {"coding": "code", "programming": "code", "learning": "study", "reading": "study",
                               "writing": "creative", "design": "creative", "call": "meeting",
                               "administrative": "admin", "chore": "manual", "general": "manual"}
SCORE_FOR_DIFFICULTY = {"easy": 3, "medium": 5, "hard": 7, "very_hard": 9, "adaptive": 5}


def _enum(value, allowed: tuple[str, ...], aliases: dict[str, str]) -> str | None:
    if not isinstance(value, str):
        return None
    norm = value.strip().lower().replace("-", "_")
    if norm in allowed:
        return norm
    spaced = norm.replace("_", " ")
    return aliases.get(norm) or aliases.get(spaced)


def _int(value, lo: int, hi: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                return None
        else:
            return None
    if not math.isfinite(value):
        return None
    return max(lo, min(hi, int(round(value))))


def _text(value, limit: int) -> str:
    if not isinstance(value, str):
        return ""
    return " ".join(value.split())[:limit] if "\n" not in value else value.strip()[:limit]


def _str_list(value, max_items: int, max_len: int) -> list[str]:
    if not isinstance(value, list):
        return []
    out = []
    for item in value:
        if isinstance(item, (str, int, float)) and not isinstance(item, bool):
            text = str(item).strip()[:max_len]
            if text:
                out.append(text)
        if len(out) >= max_items:
            break
    return out


def _questions(value) -> list[dict]:
    out = []
    for item in value if isinstance(value, list) else []:
        if not isinstance(item, dict):
            continue
        question = _text(item.get("question"), 500)
        options = _str_list(item.get("options"), 6, 200)
        correct = item.get("correctAnswer", item.get("correct_answer"))
        if isinstance(correct, str) and correct in options:
            correct = options.index(correct)
        correct = _int(correct, -1, 100) if correct is not None else None
        if not question or len(options) < 2 or correct is None or not 0 <= correct < len(options):
            continue  # an unanswerable question is dropped, not stored
        points = _int(item.get("points", 10), 0, 100)
        out.append({"question": question, "options": options, "correct_answer": correct,
                    "points": 10 if points is None else points})
        if len(out) >= 20:
            break
    return out


def _milestones(value) -> list[dict]:
    out = []
    for item in value if isinstance(value, list) else []:
        if not isinstance(item, dict):
            continue
        name = _text(item.get("name"), 100)
        progress = _int(item.get("progress"), 0, 100)
        points = _int(item.get("points", 0), 0, MAX_POINTS)
        if not name or progress is None:
            continue
        out.append({"name": name, "progress": progress, "points": points or 0})
        if len(out) >= 20:
            break
    return sorted(out, key=lambda m: m["progress"])


def parse_classification(value) -> Classification:
    if not isinstance(value, dict):
        raise AIServiceError("bad_response", "classification is not an object")
    ctype = _enum(value.get("type"), CLASSIFICATION_TYPES, CLASSIFICATION_TYPE_ALIASES) or "manual"
    complexity = _enum(value.get("complexity"), COMPLEXITIES, DIFFICULTY_ALIASES) or "medium"
    duration = _int(value.get("estimated_duration", value.get("estimatedDuration")), 1, 1440) or 30
    keywords = [k.lower() for k in _str_list(value.get("keywords"), 10, 50)]
    return Classification(type=ctype, complexity=complexity, estimated_duration=duration, keywords=keywords, source="ai")


def parse_classification_response(payload) -> Classification:
    if not isinstance(payload, dict) or payload.get("success") is not True:
        raise AIServiceError("bad_response", "classification response has no success flag")
    value = payload.get("classification")
    if value is None and isinstance(payload.get("data"), dict):  # the other /task/classify shape
        value = payload["data"].get("classification", payload["data"])
    return parse_classification(value)


def parse_generated_challenge(payload, task: TaskSpec) -> GeneratedChallenge:
    if not isinstance(payload, dict) or payload.get("success") is not True or not isinstance(payload.get("data"), dict):
        raise AIServiceError("bad_response", "challenge response is not {success: true, data: {...}}")
    data = payload["data"]
    ctype = _enum(data.get("type"), CHALLENGE_TYPES, CHALLENGE_TYPE_ALIASES)
    if ctype is None:
        raise AIServiceError("bad_response", f"unknown challenge type {data.get('type')!r}")
    title = _text(data.get("title"), 200) or f"Challenge: {task.title}"[:200]
    difficulty = _enum(data.get("difficulty"), DIFFICULTIES, DIFFICULTY_ALIASES)
    score = _int(data.get("difficultyScore"), 1, 10)
    if difficulty is None:
        difficulty = {1: "easy", 2: "easy", 3: "easy", 4: "medium", 5: "medium", 6: "medium",
                      7: "hard", 8: "hard"}.get(score or 5, "very_hard")
    if score is None:
        score = SCORE_FOR_DIFFICULTY[difficulty]
    points = _int(data.get("pointsReward"), 0, MAX_POINTS)
    if points is None:
        points = {"easy": 100, "medium": 250, "hard": 500, "very_hard": 1000}.get(difficulty, 250)

    raw_config = data.get("configuration") if isinstance(data.get("configuration"), dict) else {}
    time_limit = _int(raw_config.get("timeLimit", raw_config.get("time_limit")), 1, MAX_TIME_LIMIT)
    configuration = {
        "time_limit": time_limit or max(1, min(MAX_TIME_LIMIT, task.estimated_duration or 30)),
        "attempts": _int(raw_config.get("attempts"), 1, 10) or (3 if ctype in ("quiz", "puzzle") else 1),
        "hints": _str_list(raw_config.get("hints"), 10, 500),
        "questions": _questions(raw_config.get("questions")),
        "milestones": _milestones(raw_config.get("milestones")),
        "code_template": _text(raw_config.get("codeTemplate", raw_config.get("code_template")), 20000)
        if isinstance(raw_config.get("codeTemplate", raw_config.get("code_template")), str) else "",
        "test_cases": _str_list(raw_config.get("testCases", raw_config.get("test_cases")), 20, 1000),
    }
    meta = data.get("aiMetadata") if isinstance(data.get("aiMetadata"), dict) else {}
    gen_time = meta.get("generationTime")
    gen_time = float(gen_time) if isinstance(gen_time, (int, float)) and not isinstance(gen_time, bool) \
        and math.isfinite(gen_time) and gen_time >= 0 else 0.0
    request_id = _text(meta.get("request_id") or meta.get("requestId") or payload.get("request_id"), 64)
    classification = None
    if isinstance(data.get("taskClassification"), dict):
        classification = parse_classification(data["taskClassification"])
    return GeneratedChallenge(
        type=ctype,
        title=title,
        description=_text(data.get("description"), 2000),
        difficulty=difficulty,
        difficulty_score=score,
        points_reward=points,
        configuration=configuration,
        source="ai",
        model=_text(meta.get("model"), 100) or "cyrex",
        generation_time=round(min(gen_time, 3600.0), 4),
        request_id=request_id,
        classification=classification,
    )
