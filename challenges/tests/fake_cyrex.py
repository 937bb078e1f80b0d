"""A fake of the AI service "cyrex" for tests: a real HTTP server on 127.0.0.1.

It speaks the contract of `../shared/reference/cyrex.md` as observed with no OpenAI key:
keyword classification, `POST /agent/challenge/generate`, `POST /agent/task/classify`,
`GET /health`, 422 on a wrong body shape, 500 `{"detail": "Internal server error"}` on an
empty task, and a missing or wrong `x-api-key` answered with **500 and a plain-text body**
(the real service's quirk, not a 401).

Switches on `server.state` (set them from the test, they apply to the next requests):
- ``mode``: "ok" (default) | "500" | "401" (the plain-text 500 of a bad key, whatever key is
  sent) | "malformed" (200 with a broken JSON body) | "slow" (sleeps ``delay`` s first) |
  "429" (with ``retry_after`` seconds) | "bad_data" (200 with a nonsense challenge type).
  ``fail_times``: answer with ``mode`` only that many times, then "ok" again.
  ``mode_paths``: a regular expression; when set, ``mode`` applies only to the paths it matches
  and every other path answers "ok" (e.g. a slow generation while classification keeps up).
- ``quirks``: the values the real service can send that our models do not take as they are:
  difficulty ``very_hard``, ``pointsReward`` 1500, ``configuration.milestones``, a
  classification type ``meeting``/``research``/``admin``
  (``quirks = {"difficulty": "very_hard", "classification_type": "meeting", ...}``).
- ``data_override``: a dict merged into the challenge ``data`` (e.g. questions, hints).
- ``requests``: every request received, as ``{"method", "path", "headers", "json"}``.

    with FakeCyrex(api_key="test-key") as cyrex:
        settings.AI_SERVICE_URL = cyrex.url
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler

from devtools.testing.fakeserver import FakeServer

CODE_WORDS = ["code", "program", "debug", "fix", "implement", "python", "function", "class", "method", "api",
              "algorithm", "script", "variable", "loop", "database", "sql", "javascript", "java", "c++", "html",
              "css"]
STUDY_WORDS = ["read", "study", "learn", "homework", "chapter"]
CREATIVE_WORDS = ["write", "design", "create", "draft"]
MEETING_WORDS = ["meeting", "call", "appointment"]
TYPE_TO_CHALLENGE = {"study": "quiz", "code": "coding_challenge", "creative": "puzzle", "research": "quiz",
                     "manual": "timed_completion", "meeting": "timed_completion", "admin": "timed_completion"}
SCORES = {"easy": 3, "medium": 5, "hard": 7, "very_hard": 9}
POINTS = {"easy": 100, "medium": 250, "hard": 500, "very_hard": 1000}


def classify(text: str, quirks: dict) -> dict:
    """cyrex's keyword fallback (services/task_classifier.py): whole words, in this order
    ("Read chapter 5 of the algorithms book" is study, not code)."""
    words = {w.strip(".,;:!?()\"'") for w in text.lower().split()}
    if words & set(CODE_WORDS):
        task_type = "code"
    elif words & set(STUDY_WORDS):
        task_type = "study"
    elif words & set(CREATIVE_WORDS):
        task_type = "creative"
    elif words & set(MEETING_WORDS):
        task_type = "meeting"
    else:
        task_type = "manual"
    return {
        "type": quirks.get("classification_type", task_type),
        "complexity": quirks.get("difficulty", "medium"),
        "estimated_duration": quirks.get("estimated_duration", 30),
        "keywords": text.split()[:5],
        "category": "general",
        "requires_focus": True,
        "can_break_into_chunks": True,
    }


class CyrexHandler(BaseHTTPRequestHandler):
    server_version = "uvicorn"
    sys_version = ""

    def log_message(self, format, *args):  # quiet
        pass

    # -- plumbing ----------------------------------------------------------------------------

    @property
    def state(self) -> dict:
        return self.server.state

    def _send(self, status: int, body, content_type: str = "application/json", headers: dict | None = None):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _mode(self, path: str) -> str:
        with self.state["lock"]:
            mode = self.state.get("mode", "ok")
            only = self.state.get("mode_paths")
            if only and not re.search(only, path):
                return "ok"
            if mode != "ok" and self.state.get("fail_times") is not None:
                if self.state["fail_times"] <= 0:
                    return "ok"
                self.state["fail_times"] -= 1
            return mode

    def _read_json(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return ValueError

    def do_GET(self):
        if self.path.split("?")[0] == "/health":
            self._send(200, {"status": "healthy", "version": "3.0.0", "timestamp": time.time(),
                             "services": {"ai": "disabled", "redis": "disabled", "node_backend": "unknown"}})
        else:
            self._send(404, {"detail": "Not Found"})

    def do_POST(self):
        body = self._read_json()
        path = self.path.split("?")[0]
        with self.state["lock"]:
            self.state["requests"].append(
                {"method": "POST", "path": path, "headers": dict(self.headers.items()), "json": body}
            )
        mode = self._mode(path)
        if mode == "slow":
            # interruptible, so stopping the server never waits for a sleeping handler
            self.state["release"].wait(self.state.get("delay", 5))
        elif mode == "500":
            return self._send(500, {"detail": "Internal server error"})
        elif mode == "401":
            return self._send(500, b"Internal Server Error", "text/plain; charset=utf-8")
        elif mode == "429":
            return self._send(429, {"detail": "Too Many Requests"},
                              headers={"Retry-After": str(self.state.get("retry_after", 1))})
        elif mode == "malformed":
            return self._send(200, b'{"success": true, "data": {"type": "quiz", "title": ', "application/json")

        # the API-key guard (middleware): a bad key surfaces as a plain-text 500
        key = self.state.get("api_key")
        if key is not None and self.headers.get("x-api-key") != key:
            return self._send(500, b"Internal Server Error", "text/plain; charset=utf-8")
        if body is ValueError:
            return self._send(422, {"detail": [{"type": "json_invalid", "loc": ["body", 0], "msg": "JSON decode error"}]})

        if path == "/agent/challenge/generate":
            return self._generate(body, bad_data=(mode == "bad_data"))
        if path == "/agent/task/classify":
            return self._classify(body)
        return self._send(404, {"detail": "Not Found"})

    # -- routes ------------------------------------------------------------------------------

    def _classify(self, body):
        if not isinstance(body, dict) or not body.get("task"):
            return self._send(500, {"detail": "Internal server error"})
        request_id = str(uuid.uuid4())
        text = f"{body['task']} {body.get('description') or ''}".strip()
        self._send(200, {"success": True, "classification": classify(text, self.state.get("quirks", {})),
                         "request_id": request_id}, headers={"x-request-id": request_id})

    def _generate(self, body, bad_data: bool):
        task = body.get("task") if isinstance(body, dict) else None
        if not isinstance(task, dict):
            return self._send(422, {"detail": [{"type": "missing", "loc": ["body", "task"], "msg": "Field required",
                                                "input": body}]})
        if not isinstance(task.get("title"), str):
            return self._send(422, {"detail": [{"type": "missing", "loc": ["body", "task", "title"],
                                                "msg": "Field required", "input": task}]})
        if not task["title"].strip():
            return self._send(500, {"detail": "Internal server error"})
        quirks = self.state.get("quirks", {})
        started = time.perf_counter()
        classification = classify(f"{task['title']} {task.get('description') or ''}", quirks)
        difficulty = classification["complexity"]
        minutes = classification["estimated_duration"]
        points = POINTS.get(difficulty, 250)
        if minutes > 60:
            points = int(points * 1.5)
        elif minutes < 15:
            points = int(points * 0.7)
        points = quirks.get("points", points)
        milestones = []
        if minutes > 30 or quirks.get("milestones"):
            milestones = [{"name": "25% Complete", "progress": 25, "points": 25},
                          {"name": "50% Complete", "progress": 50, "points": 50},
                          {"name": "75% Complete", "progress": 75, "points": 75}]
        request_id = str(uuid.uuid4())
        data = {
            "type": TYPE_TO_CHALLENGE.get(classification["type"], "timed_completion"),
            "title": f"Complete: {task['title']}",
            "description": f"Complete this {classification['type']} task within {minutes} minutes!",
            "difficulty": difficulty,
            "difficultyScore": SCORES.get(difficulty, 5),
            "pointsReward": points,
            "configuration": {"timeLimit": minutes, "milestones": milestones},
            "taskClassification": classification,
            "userAdaptation": {"difficulty_adjusted": False, "based_on_history": False},
            "aiMetadata": {"generationTime": time.perf_counter() - started, "request_id": request_id},
        }
        if bad_data:
            data["type"] = "interpretive_dance"
        data.update(self.state.get("data_override", {}))
        self._send(200, {"success": True, "data": data, "request_id": request_id},
                   headers={"x-request-id": request_id})


class FakeCyrex(FakeServer):
    def __init__(self, api_key: str | None = "test-key"):
        super().__init__(
            CyrexHandler,
            state={"api_key": api_key, "mode": "ok", "requests": [], "lock": threading.Lock(),
                   "release": threading.Event(), "quirks": {}},
        )
        # poll for shutdown often, so stopping the server takes milliseconds, not 0.5 s
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def set(self, **switches) -> FakeCyrex:
        with self.state["lock"]:
            self.state.update(switches)
        return self

    @property
    def requests(self) -> list[dict]:
        return self.state["requests"]

    def count(self, path_pattern: str = ".*") -> int:
        return sum(1 for r in self.requests if re.search(path_pattern, r["path"]))

    def stop(self) -> None:
        self.state["release"].set()
        super().stop()
