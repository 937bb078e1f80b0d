"""Outgoing webhooks across a broker restart, with a real Celery worker on a private redis-server
as its broker: events are committed while the broker is down (their jobs wait in the outbox)
and while it comes back empty (the jobs it held are gone); the outbox sweep and the scan bring
every delivery out, and every (event, endpoint) reaches the receiver under its one webhook-id,
none lost, none under a second id."""

from __future__ import annotations

import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler

import pytest
from django.db import connection

from accounts.models import User
from deepiri.celery import app
from devtools.testing.fakeserver import FakeServer
from devtools.testing.faults import RedisServer
from integrations.webhooks import job_names
from integrations.webhooks import services as webhooks
from integrations.webhooks.models import DeliveryStatus, EndpointDelivery, WebhookEvent
from kernel import jobs
from kernel.models import OutboxJob
from tasks import services as task_services

CLAIM_SECONDS = 3


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        state = self.server.state
        with state["lock"]:
            state["ids"].append(self.headers["webhook-id"])
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def broker():
    """A private redis-server as the Celery broker of this process (and of the worker the test
    starts): the shared Redis stays up while this one is killed and restarted."""
    server = RedisServer().start()
    saved = app.conf.broker_url
    app.conf.broker_url = server.url()
    app._after_fork()  # drop the connection pools made for the old broker
    try:
        yield server
    finally:
        app.conf.broker_url = saved
        app._after_fork()
        server.stop()


def _received_all(state, deliveries: set[str]) -> bool:
    with state["lock"]:
        return deliveries <= set(state["ids"])


@pytest.mark.services
def test_events_committed_while_the_broker_is_down_and_restarting_are_all_delivered_once(
    celery_worker, broker, settings
):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.WEBHOOK_CLAIM_SECONDS = CLAIM_SECONDS
    settings.OUTBOX_SWEEP_GRACE_SECONDS = 1
    env = {
        "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32", "WEBHOOK_CLAIM_SECONDS": str(CLAIM_SECONDS),
        "CELERY_BROKER_URL": broker.url(),
    }
    state = {"ids": [], "lock": threading.Lock()}
    with FakeServer(Receiver, state) as receiver:
        worker = celery_worker(**env)
        user = User.objects.create_user(email="hooks@example.com", password="Pass-word-123", name="Hooks")
        webhooks.create_endpoint(user, url=f"{receiver.url}/a")
        webhooks.create_endpoint(user, url=f"{receiver.url}/b")

        def create(prefix: str, n: int, pause: float = 0.0):
            for k in range(n):
                task_services.create_task(user, title=f"{prefix} {k}", understand=False)
                time.sleep(pause)

        create("before", 3)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _received_all(state, set(EndpointDelivery.objects.values_list("pk", flat=True))):
            time.sleep(0.2)
        assert len(state["ids"]) == 6, worker.output[-3000:]

        broker.kill()
        create("down", 3)  # the publish after COMMIT is refused: the jobs wait in the outbox
        assert EndpointDelivery.objects.filter(status=DeliveryStatus.PENDING).count() == 6
        refused = OutboxJob.objects.filter(task=job_names.DELIVER_ENDPOINT, published_at__isnull=True, attempts__gte=1)
        assert refused.count() == 6
        webhooks.scan_due()  # beat's scan while the broker is down: its jobs go to the outbox too

        # Events keep coming while the broker restarts (empty: what it held is lost).
        during = threading.Thread(target=lambda: (create("restart", 6, 0.1), connection.close()))
        during.start()
        time.sleep(0.2)
        broker.restart()
        during.join()
        create("after", 2)

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if not EndpointDelivery.objects.exclude(status=DeliveryStatus.SUCCEEDED).exists():
                break
            jobs.drain_outbox()  # what beat does every 5 s
            webhooks.scan_due()  # and every 3 s
            time.sleep(0.5)
        assert worker.alive, worker.output[-3000:]

    events = WebhookEvent.objects.count()
    deliveries = list(EndpointDelivery.objects.values_list("pk", "event_id", "endpoint_id", "status"))
    assert events == 3 + 3 + 6 + 2
    assert len(deliveries) == 2 * events
    assert len({(event, endpoint) for _, event, endpoint, _ in deliveries}) == len(deliveries)
    assert {status for *_, status in deliveries} == {DeliveryStatus.SUCCEEDED}, worker.output[-3000:]
    received = Counter(state["ids"])
    assert set(received) == {pk for pk, *_ in deliveries}  # none lost, none under another id
