"""What a client does after `POST /api/challenges/generate` answered 202: read the challenge
again until the worker has made it (the web client's polling; sockets get `challenge-generated`)."""

from __future__ import annotations

import time


def poll_generated(client, challenge_id: str, *, deadline_seconds: float = 30.0) -> dict:
    """GET the challenge until it is no longer `generating`; its data, or AssertionError when the
    worker has not made it within the deadline (a safety net, not a measurement)."""
    give_up = time.monotonic() + deadline_seconds
    while True:
        response = client.get(f"/api/challenges/{challenge_id}")
        assert response.status_code == 200, response.content
        data = response.json()["data"]
        if data["status"] != "generating":
            return data
        assert time.monotonic() < give_up, f"challenge {challenge_id} still generating"
        time.sleep(0.1)
