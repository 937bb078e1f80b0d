"""The one client for the AI service "cyrex" (reference/cyrex.md).

Every call:
- goes through one pooled `requests.Session` with `x-api-key`;
- has connect/read timeouts of seconds and a total time budget per call (a worker is never
  stuck longer than `AI_SERVICE_TOTAL_TIMEOUT`, retries and waits included);
- retries connection errors, timeouts, 5xx and 429 a bounded number of times with exponential
  backoff, honouring `Retry-After` (a wait longer than the remaining budget is not attempted);
- is refused without touching the network while the circuit breaker is open; the breaker's
  state lives in Redis (`deepiri.redis`) so every worker process shares it;
- validates the response into our own types (`challenges.types`): unknown or out-of-range
  values are mapped or clamped, shapes we cannot use are rejected, nothing is kept raw.

Failures raise `AIServiceError` (with a short `reason`); callers fall back to
`challenges.fallback`.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import random
import threading
import time
from dataclasses import dataclass

import requests
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
from deepiri.redis import get_redis
from deepiri.redis import key as redis_key

logger = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 1_000_000
MAX_POINTS = 2000
MAX_TIME_LIMIT = 480  # minutes


class AIServiceError(Exception):
    """The AI service could not give a usable answer. `reason` is a short code:
    not_configured, circuit_open, timeout, connection, http_<status>, bad_response, budget."""

    def __init__(self, reason: str, message: str = ""):
        super().__init__(message or reason)
        self.reason = reason


def _setting(name: str, default):
    return getattr(settings, name, default)


# ---------------------------------------------------------------------------------------------
# Circuit breaker (shared through Redis)
# ---------------------------------------------------------------------------------------------


class CircuitBreaker:
    """closed -> (threshold failures within `window` s) -> open for `cooldown` s -> half-open:
    one probe call at a time is let through; its success closes the circuit, its failure
    opens it again. Redis being unreachable never blocks calls (fail open, logged)."""

    def __init__(self, name: str, *, threshold: int, window: float, cooldown: float, probe_ttl: float, client=None):
        self.name = name
        self._client = client  # a Redis client; the shared one (deepiri.redis) by default
        self.threshold = max(1, int(threshold))
        self.window = max(1, math.ceil(window))
        self.cooldown = max(0.05, float(cooldown))
        self.probe_ttl = max(1, math.ceil(probe_ttl))
        self.k_failures = redis_key("ai", "breaker", name, "failures")
        self.k_open = redis_key("ai", "breaker", name, "open")
        self.k_tripped = redis_key("ai", "breaker", name, "tripped")
        self.k_probe = redis_key("ai", "breaker", name, "probe")

    def _redis(self):
        return self._client if self._client is not None else get_redis()

    def state(self) -> str:
        try:
            r = self._redis()
            if r.exists(self.k_open):
                return "open"
            return "half_open" if r.exists(self.k_tripped) else "closed"
        except Exception:  # noqa: BLE001 - Redis down: report closed, calls go through
            logger.warning("circuit breaker %s: redis unavailable", self.name, exc_info=True)
            return "closed"

    def allow(self) -> bool:
        try:
            r = self._redis()
            if r.exists(self.k_open):
                return False
            if r.exists(self.k_tripped):
                # half-open: exactly one caller probes until it reports back (or its lease ends)
                return bool(r.set(self.k_probe, "1", nx=True, ex=self.probe_ttl))
            return True
        except Exception:  # noqa: BLE001
            logger.warning("circuit breaker %s: redis unavailable, allowing call", self.name, exc_info=True)
            return True

    def record_success(self) -> None:
        try:
            self._redis().delete(self.k_failures, self.k_tripped, self.k_probe)
        except Exception:  # noqa: BLE001
            logger.warning("circuit breaker %s: redis unavailable", self.name, exc_info=True)

    def record_failure(self) -> None:
        try:
            r = self._redis()
            if r.exists(self.k_tripped):
                self._open(r)
                return
            pipe = r.pipeline()
            pipe.set(self.k_failures, 0, nx=True, ex=self.window)  # the window starts at the first failure
            pipe.incr(self.k_failures)  # INCR keeps the TTL
            failures = pipe.execute()[1]
            if failures >= self.threshold:
                self._open(r)
        except Exception:  # noqa: BLE001
            logger.warning("circuit breaker %s: redis unavailable", self.name, exc_info=True)

    def _open(self, r) -> None:
        ms = int(self.cooldown * 1000)
        pipe = r.pipeline()
        pipe.set(self.k_open, "1", px=ms)
        # "tripped" outlives "open": once the cool-down ends we are half-open, not closed
        pipe.set(self.k_tripped, "1", px=ms + max(self.window, 60) * 1000 * 10)
        pipe.delete(self.k_failures, self.k_probe)
        pipe.execute()
        logger.warning("circuit breaker %s opened for %.1fs", self.name, self.cooldown)

    def reset(self) -> None:
        self._redis().delete(self.k_failures, self.k_open, self.k_tripped, self.k_probe)


def breaker_from_settings() -> CircuitBreaker:
    return CircuitBreaker(
        "cyrex",
        threshold=_setting("AI_BREAKER_THRESHOLD", 5),
        window=_setting("AI_BREAKER_WINDOW", 60),
        cooldown=_setting("AI_BREAKER_COOLDOWN", 30),
        probe_ttl=_setting("AI_SERVICE_TOTAL_TIMEOUT", 15) + 5,
    )


# ---------------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------------

_session: requests.Session | None = None
_session_lock = threading.Lock()


def _get_session() -> requests.Session:
    global _session
    if _session is None:
        with _session_lock:
            if _session is None:
                session = requests.Session()
                adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                session.headers.update({"Accept": "application/json", "User-Agent": "deepiri-backend/1"})
                _session = session
    return _session


@dataclass
class ClientConfig:
    base_url: str
    api_key: str
    connect_timeout: float = 2.0
    read_timeout: float = 8.0
    total_timeout: float = 15.0
    max_retries: int = 2
    backoff: float = 0.5
    max_retry_after: float = 5.0
    generate_path: str = "/agent/challenge/generate"
    classify_path: str = "/agent/task/classify"

    @classmethod
    def from_settings(cls) -> ClientConfig:
        return cls(
            base_url=(_setting("AI_SERVICE_URL", "") or "").rstrip("/"),
            api_key=_setting("AI_SERVICE_API_KEY", ""),
            connect_timeout=float(_setting("AI_SERVICE_CONNECT_TIMEOUT", 2.0)),
            read_timeout=float(_setting("AI_SERVICE_READ_TIMEOUT", 8.0)),
            total_timeout=float(_setting("AI_SERVICE_TOTAL_TIMEOUT", 15.0)),
            max_retries=int(_setting("AI_SERVICE_MAX_RETRIES", 2)),
            backoff=float(_setting("AI_SERVICE_BACKOFF", 0.5)),
            max_retry_after=float(_setting("AI_SERVICE_MAX_RETRY_AFTER", 5.0)),
            generate_path=_setting("AI_SERVICE_GENERATE_PATH", "/agent/challenge/generate"),
            classify_path=_setting("AI_SERVICE_CLASSIFY_PATH", "/agent/task/classify"),
        )


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


class AIClient:
    def __init__(self, config: ClientConfig | None = None, breaker: CircuitBreaker | None = None):
        self.config = config or ClientConfig.from_settings()
        self.breaker = breaker or breaker_from_settings()

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
        payload, request_id = self._call(self.config.generate_path, body)
        try:
            result = parse_generated_challenge(payload, task)
        except AIServiceError:
            self.breaker.record_failure()
            raise
        self.breaker.record_success()
        if not result.request_id:
            result.request_id = request_id
        if not result.generation_time:
            result.generation_time = round(time.monotonic() - started, 4)
        return result

    def classify_task(self, title: str, description: str = "") -> Classification:
        body = {"task": title}
        if description:
            body["description"] = description
        payload, _ = self._call(self.config.classify_path, body)
        try:
            result = parse_classification_response(payload)
        except AIServiceError:
            self.breaker.record_failure()
            raise
        self.breaker.record_success()
        return result

    # -- transport -----------------------------------------------------------------------------

    def _call(self, path: str, body: dict) -> tuple[object, str]:
        """POST with retries inside the time budget. Returns (decoded JSON, request id).
        Transport failures are recorded on the breaker here; validation failures by the caller."""
        if not self.configured:
            raise AIServiceError("not_configured", "AI_SERVICE_URL is not set")
        if not self.breaker.allow():
            raise AIServiceError("circuit_open", "AI service circuit is open")
        try:
            return self._call_with_retries(path, body)
        except AIServiceError:
            self.breaker.record_failure()
            raise

    def _call_with_retries(self, path: str, body: dict) -> tuple[object, str]:
        cfg = self.config
        url = cfg.base_url + path
        deadline = time.monotonic() + cfg.total_timeout
        headers = {"x-api-key": cfg.api_key, "Content-Type": "application/json"}
        data = json.dumps(body).encode()
        last_error = AIServiceError("budget", "no attempt fitted in the time budget")
        for attempt in range(cfg.max_retries + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0.05:
                break
            wait = None
            try:
                response = _get_session().post(
                    url,
                    data=data,
                    headers=headers,
                    timeout=(min(cfg.connect_timeout, remaining), min(cfg.read_timeout, remaining)),
                    stream=True,
                )
                try:
                    raw = self._read_body(response, deadline)
                finally:
                    response.close()
            except requests.Timeout as exc:
                last_error = AIServiceError("timeout", f"AI service timed out: {exc}")
            except requests.ConnectionError as exc:
                last_error = AIServiceError("connection", f"AI service unreachable: {exc}")
            except requests.RequestException as exc:
                last_error = AIServiceError("connection", f"AI service request failed: {exc}")
            else:
                status = response.status_code
                request_id = response.headers.get("x-request-id", "")
                if 200 <= status < 300:
                    try:
                        return json.loads(raw), request_id
                    except ValueError as exc:
                        raise AIServiceError("bad_response", f"AI service sent malformed JSON: {exc}") from exc
                last_error = AIServiceError(f"http_{status}", f"AI service answered {status}: {raw[:200]!r}")
                if status != 429 and status < 500:
                    raise last_error  # our request or our key is wrong: retrying will not help
                wait = _retry_after_seconds(response.headers.get("Retry-After"))
                if wait is not None and wait > cfg.max_retry_after:
                    raise last_error  # the service asks for longer than we may wait
            if attempt == cfg.max_retries:
                break
            if wait is None:
                wait = cfg.backoff * (2**attempt) * (1 + random.random() / 2)  # noqa: S311 - jitter
            if time.monotonic() + wait >= deadline - 0.05:
                break
            time.sleep(wait)
            logger.info("retrying AI call %s (attempt %d): %s", path, attempt + 2, last_error.reason)
        raise last_error

    @staticmethod
    def _read_body(response, deadline: float) -> bytes:
        chunks, size = [], 0
        for chunk in response.iter_content(chunk_size=16384):
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                raise AIServiceError("bad_response", "AI service response too large")
            if time.monotonic() > deadline:
                raise requests.Timeout("total time budget exceeded while reading")
            chunks.append(chunk)
        return b"".join(chunks)


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
