"""Generation never holds a web worker: with the AI service HUNG (it accepts the connection and
never answers), `POST /api/challenges/generate` answers 202 `generating` at once, other requests
go on being served, and the client learns the result as the web client does: the
`challenge-generated` socket event, or reading the challenge again.

The production shape: daphne serving HTTP and sockets, a real prefork Celery worker, a private
Redis. The worker's AI budget is shorter than the time a request used to park waiting for the
job, so a request that still waited would come back with the finished challenge (201), not 202.
"""

from __future__ import annotations

import json
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from accounts.tokens import issue_pair
from devtools.testing.faults import FaultStack, wait_until
from tasks import services as task_services

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


class HungServer:
    """Accepts TCP connections on 127.0.0.1 and never sends a byte (nor closes them)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


class SocketEvents:
    """One `/ws/` socket of a user, recording the events pushed to it."""

    def __init__(self, server, token: str):
        self.server, self.token = server, token
        self.events: list[dict] = []
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from websockets.sync.client import connect

        with connect(self.server.ws_url_for(self.token), origin=self.server.origin, open_timeout=10) as ws:
            self.connected.set()
            while not self._stop.is_set():
                try:
                    self.events.append(json.loads(ws.recv(timeout=0.5)))
                except TimeoutError:
                    continue

    def of_type(self, event_type: str) -> list[dict]:
        return [e for e in self.events if e.get("type") == event_type]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


@pytest.fixture
def hung_ai():
    server = HungServer()
    yield server
    server.close()


def test_generate_answers_at_once_while_the_ai_service_hangs(make_user, hung_ai):
    user = make_user(name="Hung Hannah")
    token = issue_pair(user)["token"]
    headers = {"Authorization": f"Bearer {token}"}
    tasks = [task_services.create_task(user, title=f"Write chapter {i}", understand=False) for i in range(4)]
    stack = FaultStack(
        {
            "AI_SERVICE_URL": hung_ai.url,
            "AI_SERVICE_API_KEY": "test-key",
            "AI_SERVICE_MAX_RETRIES": "0",
            "AI_SERVICE_READ_TIMEOUT": "2",
            "AI_SERVICE_TOTAL_TIMEOUT": "2",
        }
    ).start()
    sockets = None
    try:
        sockets = SocketEvents(stack.web, token)
        assert sockets.connected.wait(15)

        def generate(task):
            return requests.post(stack.url + "/api/challenges/generate", json={"taskId": task.pk}, headers=headers,
                                 timeout=30)

        def read(path):
            return requests.get(stack.url + path, headers=headers, timeout=30)

        # Four generations (twice the worker's processes) and reads, all at once.
        with ThreadPoolExecutor(max_workers=12) as pool:
            generating = [pool.submit(generate, task) for task in tasks]
            reads = [pool.submit(read, path) for path in ("/api/tasks", "/api/challenges", "/api/users/profile") * 2]
            generated = [f.result() for f in generating]
            answered = [f.result() for f in reads]

        for response in generated:
            assert response.status_code == 202, response.content
            assert response.json()["data"]["status"] == "generating"
        assert [r.status_code for r in answered] == [200] * len(answered), [r.content[:200] for r in answered]
        # the worker did reach the hung service: the answers above came while its call was open
        wait_until(lambda: hung_ai.accepted, 20, what="the worker to call the AI service")

        ids = {r.json()["data"]["id"] for r in generated}
        assert len(ids) == len(tasks)

        # The client's two ways to learn the result: the socket event, and reading it again.
        def pushed():
            return {e["challenge"]["id"] for e in sockets.of_type("challenge-generated")} >= ids

        wait_until(pushed, 60, what="challenge-generated for every challenge")
        for challenge_id in ids:
            data = read(f"/api/challenges/{challenge_id}").json()["data"]
            assert data["status"] == "pending"
            # the first calls time out; once they open the breaker the rest fall back at once
            assert data["aiMetadata"]["source"] == "fallback"
            assert data["aiMetadata"]["fallbackReason"] in ("timeout", "circuit_open")
    finally:
        if sockets is not None:
            sockets.stop()
        stack.close()
