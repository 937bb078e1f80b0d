"""Outgoing webhooks across a worker SIGKILL, with real Celery workers on the Redis broker: the
worker dies in the middle of an attempt; after its hold runs out the scan queues the endpoint to
another worker, and every (event, endpoint) reaches the receiver under its one webhook-id (the
interrupted one again under the same id), none lost, none under a second id."""

from __future__ import annotations

import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler

import pytest

from accounts.models import User
from devtools.testing.fakeserver import FakeServer
from integrations.webhooks import services as webhooks
from integrations.webhooks.models import DeliveryStatus, EndpointDelivery
from tasks import services as task_services

CLAIM_SECONDS = 3


class SlowFirstReceiver(BaseHTTPRequestHandler):
    """Records each webhook-id; the very first request is held until the test lets it go, so
    the worker is killed while it waits for the answer."""

    def do_POST(self):  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        state = self.server.state
        with state["lock"]:
            state["ids"].append(self.headers["webhook-id"])
            first = len(state["ids"]) == 1
        if first:
            state["arrived"].set()
            state["release"].wait(20)
        try:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
        except OSError:
            pass  # the worker is gone

    def log_message(self, *args):
        pass


@pytest.mark.services
def test_a_worker_killed_mid_delivery_loses_and_doubles_no_webhook_id(celery_worker, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.WEBHOOK_CLAIM_SECONDS = CLAIM_SECONDS
    env = {"WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32", "WEBHOOK_CLAIM_SECONDS": str(CLAIM_SECONDS)}
    state = {"ids": [], "lock": threading.Lock(), "arrived": threading.Event(), "release": threading.Event()}
    with FakeServer(SlowFirstReceiver, state) as receiver:
        first = celery_worker(**env)
        user = User.objects.create_user(email="hooks@example.com", password="Pass-word-123", name="Hooks")
        webhooks.create_endpoint(user, url=f"{receiver.url}/hook")
        for n in range(5):
            task_services.create_task(user, title=f"task {n}", understand=False)  # commits: the outbox publishes
        assert state["arrived"].wait(30), first.output[-3000:]
        first.kill()  # mid-attempt: nothing recorded, the endpoint and the delivery still held
        state["release"].set()
        celery_worker(**env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not EndpointDelivery.objects.exclude(status=DeliveryStatus.SUCCEEDED).exists():
                break
            webhooks.scan_due()  # what beat does every few seconds
            time.sleep(0.5)
    deliveries = list(EndpointDelivery.objects.values_list("pk", "status", "attempt"))
    assert len(deliveries) == 5
    assert {status for _, status, _ in deliveries} == {DeliveryStatus.SUCCEEDED}
    received = Counter(state["ids"])
    assert set(received) == {pk for pk, _, _ in deliveries}  # none lost, none under another id
    # The interrupted message went again under its own id; the others once each.
    assert sorted(received.values()) == [1, 1, 1, 1, 2]
