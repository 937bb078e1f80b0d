"""The signed-in workload of bench/load.py (locust): each simulated user holds its own access
token (from the JSON file named by BENCH_TOKENS) and, with a think time (BENCH_THINK), lists, creates
and completes tasks, generates a challenge, reads its profile, the leaderboard, its
notifications and its analytics. Request names are the endpoint templates, so locust's
statistics are per endpoint."""

from __future__ import annotations

import itertools
import json
import os
import random
from pathlib import Path

from locust import between, task
from locust.contrib.fasthttp import FastHttpUser

TOKENS = json.loads(Path(os.environ["BENCH_TOKENS"]).read_text())
_next = itertools.count()


class SignedInUser(FastHttpUser):
    # think time between two actions of one user (seconds), BENCH_THINK="min,max"
    wait_time = between(*(float(x) for x in os.environ.get("BENCH_THINK", "0.5,2.0").split(",")))

    def on_start(self):
        self.token = TOKENS[next(_next) % len(TOKENS)]
        self.headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        self.pending: list[str] = []

    def _json(self, method, path, name, body=None, expect=(200, 201)):
        kwargs = {"headers": self.headers, "name": name, "catch_response": True}
        if body is not None:
            kwargs["data"] = json.dumps(body)
        with self.client.request(method, path, **kwargs) as response:
            if response.status_code not in expect:
                response.failure(f"{response.status_code}: {(response.text or '')[:200]}")
                return None
            response.success()
            return response.json()

    def _create(self, title):
        body = self._json("POST", "/api/tasks", "POST /api/tasks",
                          {"title": title, "description": "Draft, review, ship.", "estimatedDuration": 30,
                           "priority": random.choice(["low", "medium", "high"])}, expect=(201,))
        return body["data"]["id"] if body else None

    @task(6)
    def list_tasks(self):
        self._json("GET", "/api/tasks?limit=50", "GET /api/tasks?limit=50")

    @task(2)
    def create_task(self):
        task_id = self._create(f"Write section {random.randint(1, 10_000)} of the report")
        if task_id:
            self.pending.append(task_id)

    @task(2)
    def complete_task(self):
        if not self.pending:
            return self.create_task()
        task_id = self.pending.pop(0)
        self._json("POST", f"/api/tasks/{task_id}/complete", "POST /api/tasks/{id}/complete", {"actualDuration": 25})

    @task(1)
    def generate_challenge(self):
        task_id = self._create("Read chapter 5 of the algorithms book")
        if task_id:
            self._json("POST", "/api/challenges/generate", "POST /api/challenges/generate", {"taskId": task_id},
                       expect=(201, 202))

    @task(3)
    def profile(self):
        self._json("GET", "/api/users/profile", "GET /api/users/profile")

    @task(2)
    def leaderboard(self):
        self._json("GET", "/api/gamification/leaderboard?period=week", "GET /api/gamification/leaderboard")

    @task(2)
    def notifications(self):
        self._json("GET", "/api/notifications", "GET /api/notifications")

    @task(1)
    def analytics(self):
        self._json("GET", "/api/analytics?days=7", "GET /api/analytics")
