"""Outgoing webhooks end to end: a real receiver on 127.0.0.1 verifies what we send with the
`standardwebhooks` library, as a consumer would; deliveries run through the outbox job (Celery
eager, after the commit) and the beat scan, with time moved by time-machine."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from accounts import personal_tokens
from devtools.testing.fakeserver import FakeServer
from integrations.webhooks import services as webhooks
from integrations.webhooks import ssrf
from integrations.webhooks.models import (
    DeliveryStatus,
    EndpointDelivery,
    EndpointStatus,
    WebhookEndpoint,
    WebhookEvent,
)
from kernel.models import OutboxJob
from notifications.models import Notification
from tasks import services as task_services

pytestmark = pytest.mark.django_db


class Receiver(BaseHTTPRequestHandler):
    """Records every request; answers from `state["answers"]` (status, headers, body) in turn,
    then 200."""

    def do_POST(self):  # noqa: N802 - http.server's name
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        with self.server.state["lock"]:
            self.server.state["requests"].append(
                {"headers": dict(self.headers), "body": body, "path": self.path, "at": time.monotonic()}
            )
            answers = self.server.state["answers"]
            status, headers, text = answers.pop(0) if answers else (200, {}, b"ok")
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver(settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    state = {"requests": [], "answers": [], "lock": threading.Lock()}
    with FakeServer(Receiver, state) as server:
        yield server


@pytest.fixture
def endpoint_for(auth_client, receiver):
    def make(client=None, **body):
        response = (client or auth_client).post(
            "/api/webhooks/endpoints", {"url": f"{receiver.url}/hook", **body}, format="json"
        )
        assert response.status_code == 201, response.json()
        return response.json()["data"]

    return make


def _verify(secret: str, request: dict) -> dict:
    return Webhook(secret).verify(request["body"], request["headers"])


def _create_task(client, hooks, title="Write the report"):
    with hooks(execute=True):
        response = client.post("/api/tasks", {"title": title}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["data"]


# ------------------------------------------------------------------------------ API
def test_create_answers_the_secret_once_and_lists_without_it(auth_client, endpoint_for):
    created = endpoint_for(description="CI", eventTypes=["task.created"])
    assert created["secret"].startswith("whsec_")
    assert set(created) >= {"id", "url", "description", "eventTypes", "status", "createdAt", "secret"}
    listed = auth_client.get("/api/webhooks/endpoints").json()["data"]
    assert [e["id"] for e in listed] == [created["id"]]
    assert "secret" not in listed[0]
    one = auth_client.get(f"/api/webhooks/endpoints/{created['id']}").json()["data"]
    assert "secret" not in one and one["eventTypes"] == ["task.created"]


def test_bad_input_is_400_with_field_errors(auth_client, receiver):
    for body in (
        {"url": "not a url"},
        {"url": f"{receiver.url}/h", "eventTypes": ["task.exploded"]},
        {"url": f"{receiver.url}/h", "surprise": 1},
        {"url": f"{receiver.url}/h", "eventTypes": "task.created"},
    ):
        response = auth_client.post("/api/webhooks/endpoints", body, format="json")
        assert response.status_code == 400, body
        assert response.json()["errors"]
    assert not WebhookEndpoint.objects.exists()


def test_without_encryption_keys_creating_is_a_503_not_a_500(auth_client, receiver, settings):
    settings.DEBUG = settings.TESTING = False
    settings.INTEGRATIONS_ENCRYPTION_KEYS = []
    response = auth_client.post("/api/webhooks/endpoints", {"url": f"{receiver.url}/h"}, format="json")
    assert response.status_code == 503
    assert not WebhookEndpoint.objects.exists()


def test_ten_endpoints_per_user(auth_client, endpoint_for, settings):
    for _ in range(settings.WEBHOOK_MAX_ENDPOINTS):
        endpoint_for()
    response = auth_client.post("/api/webhooks/endpoints", {"url": "http://127.0.0.1:1/x"}, format="json")
    assert response.status_code == 409
    assert WebhookEndpoint.objects.count() == settings.WEBHOOK_MAX_ENDPOINTS


def test_another_users_endpoint_and_delivery_are_404(
    auth_client, other_client, endpoint_for, django_capture_on_commit_callbacks
):
    mine = endpoint_for()
    _create_task(auth_client, django_capture_on_commit_callbacks)
    delivery = EndpointDelivery.objects.get()
    base = f"/api/webhooks/endpoints/{mine['id']}"
    assert other_client.get(base).status_code == 404
    assert other_client.patch(base, {"description": "x"}, format="json").status_code == 404
    assert other_client.post(f"{base}/rotate-secret").status_code == 404
    assert other_client.post(f"{base}/test").status_code == 404
    assert other_client.get(f"{base}/deliveries").status_code == 404
    assert other_client.post(f"/api/webhooks/deliveries/{delivery.pk}/resend").status_code == 404
    assert other_client.delete(base).status_code == 404
    assert other_client.get("/api/webhooks/endpoints/not-an-id").status_code == 404
    assert WebhookEndpoint.objects.filter(pk=mine["id"], description="").exists()


def test_event_type_catalogue_has_a_schema_per_type(auth_client):
    data = auth_client.get("/api/webhooks/event-types?limit=100").json()["data"]
    assert {t["type"] for t in data} == {
        "task.created", "task.updated", "task.completed", "task.deleted", "challenge.generated",
        "challenge.completed", "badge.awarded", "level.up", "streak.updated",
    }
    assert all(t["schema"]["type"] == "object" for t in data)


def test_a_personal_access_token_needs_webhooks_manage(user, endpoint_for):
    for scopes, expected in ((["tasks:read"], 403), (["webhooks:manage"], 200)):
        _, raw = personal_tokens.create_token(
            user, name=f"t{expected}", scopes=scopes, expires_at=timezone.now() + timedelta(days=3)
        )
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        response = client.get("/api/webhooks/endpoints")
        assert response.status_code == expected
        if expected == 403:
            assert "webhooks:manage" in response.json()["message"]


# ------------------------------------------------------------------------------ events and signing
def test_a_created_task_arrives_signed_with_its_committed_rest_shape(
    auth_client, endpoint_for, receiver, django_capture_on_commit_callbacks
):
    endpoint = endpoint_for()
    task = _create_task(auth_client, django_capture_on_commit_callbacks)
    [request] = receiver.state["requests"]
    assert request["path"] == "/hook"
    payload = _verify(endpoint["secret"], request)
    assert payload["type"] == "task.created"
    # The create's answer is the committed state (task understanding changes the task later,
    # in a transaction of its own, which is not a webhook event).
    assert payload["data"] == task
    assert set(payload["data"]) == set(auth_client.get(f"/api/tasks/{task['id']}").json()["data"])
    assert request["headers"]["webhook-id"] == EndpointDelivery.objects.get().pk
    assert request["headers"]["User-Agent"].startswith("Deepiri-Webhooks/")
    # One byte changed: the signature no longer matches.
    tampered = {**request, "body": request["body"].replace(b"Write", b"Wrote")}
    with pytest.raises(WebhookVerificationError):
        _verify(endpoint["secret"], tampered)
    with pytest.raises(WebhookVerificationError):
        _verify(webhooks.new_secret(), request)
    delivery = auth_client.get(f"/api/webhooks/endpoints/{endpoint['id']}/deliveries").json()["data"][0]
    assert delivery["status"] == "succeeded" and delivery["responseStatus"] == 200 and delivery["attempt"] == 1
    assert delivery["eventType"] == "task.created" and delivery["responseBody"] == "ok"
    assert set(delivery) >= {"id", "eventId", "eventType", "attempt", "status", "responseStatus", "durationMs",
                             "error", "createdAt", "nextAttemptAt"}


def test_an_update_sends_the_state_that_committed(
    auth_client, endpoint_for, receiver, django_capture_on_commit_callbacks
):
    endpoint = endpoint_for(eventTypes=["task.updated"])
    task = _create_task(auth_client, django_capture_on_commit_callbacks)
    assert receiver.state["requests"] == []  # not subscribed to task.created
    with django_capture_on_commit_callbacks(execute=True):
        answer = auth_client.patch(
            f"/api/tasks/{task['id']}", {"title": "Renamed", "priority": "high"}, format="json"
        ).json()["data"]
    [request] = receiver.state["requests"]
    payload = _verify(endpoint["secret"], request)
    assert payload["type"] == "task.updated"
    assert payload["data"] == auth_client.get(f"/api/tasks/{task['id']}").json()["data"]
    assert {k: answer[k] for k in payload["data"]} == payload["data"]
    assert payload["data"]["title"] == "Renamed"


def test_a_completion_is_exactly_one_task_completed(
    auth_client, endpoint_for, receiver, django_capture_on_commit_callbacks
):
    endpoint = endpoint_for(eventTypes=["task.updated", "task.completed"])
    first = _create_task(auth_client, django_capture_on_commit_callbacks, "one")
    second = _create_task(auth_client, django_capture_on_commit_callbacks, "two")
    with django_capture_on_commit_callbacks(execute=True):
        auth_client.patch(f"/api/tasks/{first['id']}", {"status": "completed"}, format="json")
    with django_capture_on_commit_callbacks(execute=True):
        auth_client.post(f"/api/tasks/{second['id']}/complete", {}, format="json")
    with django_capture_on_commit_callbacks(execute=True):  # completing again changes nothing
        auth_client.post(f"/api/tasks/{second['id']}/complete", {}, format="json")
    types = [_verify(endpoint["secret"], r)["type"] for r in receiver.state["requests"]]
    assert types == ["task.completed", "task.completed"]
    # Reopening through an update is one task.updated carrying the final status.
    with django_capture_on_commit_callbacks(execute=True):
        auth_client.patch(f"/api/tasks/{first['id']}", {"status": "in_progress"}, format="json")
    last = _verify(endpoint["secret"], receiver.state["requests"][-1])
    assert len(receiver.state["requests"]) == 3
    assert last["type"] == "task.updated" and last["data"]["status"] == "in_progress"


def test_a_deleted_task_sends_its_last_state(auth_client, endpoint_for, receiver, django_capture_on_commit_callbacks):
    endpoint = endpoint_for(eventTypes=["task.deleted"])
    task = _create_task(auth_client, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        assert auth_client.delete(f"/api/tasks/{task['id']}").status_code in (200, 204)
    payload = _verify(endpoint["secret"], receiver.state["requests"][0])
    assert payload["type"] == "task.deleted" and payload["data"]["id"] == task["id"]


def test_a_rolled_back_change_emits_nothing(user, endpoint_for, receiver, django_capture_on_commit_callbacks):
    endpoint_for()
    outbox_before = OutboxJob.objects.count()
    seen = []

    def failing_request():
        with transaction.atomic():
            task_services.create_task(user, title="never")
            seen.append(WebhookEvent.objects.count())
            raise RuntimeError("the request failed")

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        failing_request()
    assert seen == [1]  # written in the change's transaction...
    assert not WebhookEvent.objects.exists()  # ...and gone with it
    assert not EndpointDelivery.objects.exists()
    assert OutboxJob.objects.count() == outbox_before
    assert receiver.state["requests"] == []


def test_during_rotation_both_secrets_sign_for_24_hours(
    auth_client, user, endpoint_for, receiver, django_capture_on_commit_callbacks
):
    endpoint = endpoint_for()
    rotated = auth_client.post(f"/api/webhooks/endpoints/{endpoint['id']}/rotate-secret").json()["data"]
    new = rotated["secret"]
    assert new.startswith("whsec_") and new != endpoint["secret"]
    _create_task(auth_client, django_capture_on_commit_callbacks)
    request = receiver.state["requests"][0]
    assert len(request["headers"]["webhook-signature"].split(" ")) == 2
    _verify(endpoint["secret"], request)
    _verify(new, request)
    with time_machine.travel(timezone.now() + timedelta(hours=24, minutes=1), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            task_services.create_task(user, title="later")
        later = receiver.state["requests"][1]
        assert len(later["headers"]["webhook-signature"].split(" ")) == 1
        _verify(new, later)
        with pytest.raises(WebhookVerificationError):
            _verify(endpoint["secret"], later)


def test_test_event_and_resend_keep_the_webhook_id(auth_client, endpoint_for, receiver):
    endpoint = endpoint_for()
    base = f"/api/webhooks/endpoints/{endpoint['id']}"
    response = auth_client.post(f"{base}/test")
    assert response.status_code == 202
    delivery = response.json()["data"]
    # The test endpoint runs in the request's transaction; APIClient commits (no outer test
    # transaction hooks here), so drive the job as the scan would.
    webhooks.scan_due()
    webhooks.deliver_endpoint(endpoint["id"])
    first = receiver.state["requests"][0]
    assert _verify(endpoint["secret"], first)["type"] == "webhook.test"
    resent = auth_client.post(f"/api/webhooks/deliveries/{delivery['id']}/resend")
    assert resent.status_code == 202
    webhooks.deliver_endpoint(endpoint["id"])
    again = receiver.state["requests"][-1]
    assert again["headers"]["webhook-id"] == first["headers"]["webhook-id"] == delivery["id"]
    assert EndpointDelivery.objects.get(pk=delivery["id"]).attempt == 2


# ------------------------------------------------------------------------------ retries and failures
def test_500_500_200_is_three_attempts_on_schedule(
    auth_client, endpoint_for, receiver, django_capture_on_commit_callbacks
):
    endpoint_for()
    receiver.state["answers"] += [(500, {}, b"oops"), (500, {}, b"oops")]
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        _create_task(auth_client, django_capture_on_commit_callbacks)
        delivery = EndpointDelivery.objects.get()
        assert (delivery.status, delivery.attempt, delivery.response_status) == ("pending", 1, 500)
        wait = (delivery.next_attempt_at - start).total_seconds()
        assert 4.5 <= wait <= 5.5  # 5 s with jitter
        clock.shift(3)
        assert webhooks.scan_due() == 0  # not due yet
        clock.shift(3)
        assert webhooks.scan_due() == 1  # eager: the job ran
        delivery.refresh_from_db()
        assert (delivery.attempt, delivery.response_status) == (2, 500)
        wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
        assert 270 <= wait <= 330  # 5 min with jitter
        clock.shift(331)
        webhooks.scan_due()
        delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt, delivery.response_status) == ("succeeded", 3, 200)
    assert len(receiver.state["requests"]) == 3
    assert len({r["headers"]["webhook-id"] for r in receiver.state["requests"]}) == 1
    assert WebhookEndpoint.objects.get().failing_since is None


def test_the_retry_schedule_spans_a_day():
    assert sum(webhooks.RETRY_SCHEDULE) * 0.9 >= 24 * 3600
    assert webhooks.RETRY_SCHEDULE == (0, 5, 300, 1800, 7200, 18000, 36000, 36000)


def test_410_disables_the_endpoint_and_tells_the_owner(
    auth_client, user, endpoint_for, receiver, django_capture_on_commit_callbacks
):
    endpoint_for()
    receiver.state["answers"].append((410, {}, b"gone"))
    _create_task(auth_client, django_capture_on_commit_callbacks)
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.status == EndpointStatus.DISABLED and "410" in endpoint.disabled_reason
    assert EndpointDelivery.objects.get().status == DeliveryStatus.FAILED
    assert Notification.objects.filter(user=user, data__endpointId=endpoint.pk).exists()
    _create_task(auth_client, django_capture_on_commit_callbacks, "after")
    assert len(receiver.state["requests"]) == 1  # nothing more is sent to it


def test_failing_for_five_days_disables(auth_client, user, endpoint_for, receiver, django_capture_on_commit_callbacks):
    endpoint_for()
    WebhookEndpoint.objects.update(failing_since=timezone.now() - timedelta(days=5, minutes=1))
    receiver.state["answers"].append((500, {}, b"still broken"))
    _create_task(auth_client, django_capture_on_commit_callbacks)
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.status == EndpointStatus.DISABLED and "5 days" in endpoint.disabled_reason
    assert Notification.objects.filter(user=user, data__endpointId=endpoint.pk).count() == 1


def test_429_retry_after_is_honoured(auth_client, endpoint_for, receiver, django_capture_on_commit_callbacks):
    endpoint_for()
    receiver.state["answers"].append((429, {"Retry-After": "120"}, b"slow down"))
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        _create_task(auth_client, django_capture_on_commit_callbacks)
        delivery = EndpointDelivery.objects.get()
        assert delivery.response_status == 429
        assert abs((delivery.next_attempt_at - start).total_seconds() - 120) < 1  # not the 5 s of the schedule
        assert WebhookEndpoint.objects.get().not_before >= start + timedelta(seconds=119)
        clock.shift(60)
        assert webhooks.scan_due() == 0
        clock.shift(61)
        assert webhooks.scan_due() == 1
    delivery.refresh_from_db()
    assert delivery.status == "succeeded" and len(receiver.state["requests"]) == 2


def test_a_301_is_a_failure_and_not_followed(auth_client, endpoint_for, receiver, django_capture_on_commit_callbacks):
    elsewhere = {"requests": [], "answers": [], "lock": threading.Lock()}
    with FakeServer(Receiver, elsewhere) as target:
        endpoint_for()
        receiver.state["answers"].append((301, {"Location": f"http://localhost:{target.port}/steal"}, b""))
        _create_task(auth_client, django_capture_on_commit_callbacks)
    delivery = EndpointDelivery.objects.get()
    assert delivery.response_status == 301 and delivery.status == "pending"
    assert delivery.error == "redirect not followed"
    assert elsewhere["requests"] == []


def test_a_full_backlog_counts_the_overflow(auth_client, endpoint_for, receiver, settings, user):
    settings.WEBHOOK_MAX_BACKLOG = 2
    endpoint = endpoint_for()
    for n in range(4):  # no commit hooks run: the deliveries stay pending
        task_services.create_task(user, title=f"t{n}")
    assert EndpointDelivery.objects.count() == 2
    shown = auth_client.get(f"/api/webhooks/endpoints/{endpoint['id']}").json()["data"]
    assert shown["overflowCount"] == 2


def test_the_scan_delivers_what_a_lost_job_left(user, endpoint_for, receiver):
    endpoint = endpoint_for()
    task_services.create_task(user, title="lost job")  # its commit hook never ran: the job is "lost"
    assert receiver.state["requests"] == []
    assert webhooks.scan_due() == 1
    assert webhooks.scan_due() == 0  # nothing due anymore: safe to run twice
    assert len(receiver.state["requests"]) == 1
    _verify(endpoint["secret"], receiver.state["requests"][0])


def test_one_worker_per_endpoint(user, endpoint_for, receiver):
    endpoint_for()
    task_services.create_task(user, title="x")
    endpoint = WebhookEndpoint.objects.get()
    WebhookEndpoint.objects.update(busy_until=timezone.now() + timedelta(seconds=30))  # another worker holds it
    assert webhooks.deliver_endpoint(endpoint.pk) == 0
    assert webhooks.scan_due() == 0
    assert receiver.state["requests"] == []
    WebhookEndpoint.objects.update(busy_until=timezone.now() - timedelta(seconds=1))  # its lease ran out
    assert webhooks.deliver_endpoint(endpoint.pk) == 1


def _ids(requests) -> list[str]:
    return [{k.lower(): v for k, v in r["headers"].items()}["webhook-id"] for r in requests]


def test_one_run_drains_a_backlog_oldest_first_with_a_few_statements_per_message(
    user, endpoint_for, receiver, settings
):
    settings.WEBHOOK_RATE_PER_SECOND = 1000
    endpoint_for()
    for n in range(25):  # more than one claim batch
        task_services.create_task(user, title=f"t{n}")
    endpoint = WebhookEndpoint.objects.get()
    oldest_first = list(EndpointDelivery.objects.order_by("next_attempt_at", "id").values_list("pk", flat=True))
    with CaptureQueriesContext(connection) as queries:
        assert webhooks.deliver_endpoint(endpoint.pk) == 25
    assert _ids(receiver.state["requests"]) == oldest_first
    # Two per message (its record, the endpoint's lease and rate in one), the claims per batch.
    assert len(queries) <= 2 * 25 + 15, [q["sql"][:80] for q in queries]
    assert set(EndpointDelivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SUCCEEDED}
    assert WebhookEndpoint.objects.get().busy_until is None


def test_a_run_stopped_early_frees_the_rest_of_its_batch(user, endpoint_for, receiver, settings):
    settings.WEBHOOK_RATE_PER_SECOND = 1000
    settings.WEBHOOK_MAX_PER_RUN = 3
    endpoint_for()
    for n in range(5):
        task_services.create_task(user, title=f"t{n}")
    endpoint = WebhookEndpoint.objects.get()
    receiver.state["answers"] = [(429, {"Retry-After": "120"}, b"slow down")]
    assert webhooks.deliver_endpoint(endpoint.pk) == 1  # the receiver's Retry-After stops the run
    assert not EndpointDelivery.objects.filter(claimed_until__isnull=False).exists()
    assert WebhookEndpoint.objects.get().busy_until is None


def test_the_rate_limit_lets_a_burst_through_then_spaces_the_rest(user, endpoint_for, receiver, settings):
    settings.WEBHOOK_RATE_PER_SECOND = 2  # two in any second
    endpoint_for()
    for n in range(5):
        task_services.create_task(user, title=f"t{n}")
    assert webhooks.deliver_endpoint(WebhookEndpoint.objects.get().pk) == 5
    at = [r["at"] for r in receiver.state["requests"]]
    assert at[1] - at[0] < 0.4  # a burst, not one every 1/rate seconds
    assert all(at[i + 2] - at[i] >= 0.95 for i in range(len(at) - 2))  # never three in a second


def test_deliveries_list_filters_and_counts_queries(
    auth_client, user, endpoint_for, receiver, django_assert_num_queries
):
    endpoint = endpoint_for()
    for n in range(6):
        task_services.create_task(user, title=f"t{n}")
    EndpointDelivery.objects.filter(pk__in=list(EndpointDelivery.objects.values_list("pk", flat=True)[:2])).update(
        status="failed"
    )
    url = f"/api/webhooks/endpoints/{endpoint['id']}/deliveries"
    assert len(auth_client.get(f"{url}?status=failed").json()["data"]) == 2
    assert auth_client.get(f"{url}?status=bogus").status_code == 400
    for limit in (2, 6):
        with django_assert_num_queries(3):
            response = auth_client.get(f"{url}?limit={limit}")
        assert len(response.json()["data"]) == limit
        assert all("body" not in d for d in response.json()["data"])


# ------------------------------------------------------------------------------ SSRF
SSRF_VECTORS = [
    "http://127.0.0.1/hook",
    "http://10.1.2.3/hook",
    "http://192.168.0.1/hook",
    "http://172.16.0.1/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:a9fe:a9fe]/hook",
    "http://[::1]/hook",
    "http://2130706433/hook",
    "http://0x7f.1/hook",
    "http://0177.0.0.1/hook",
    "http://0.0.0.0/hook",
    "http://100.64.0.1/hook",
    "http://224.0.0.1/hook",
    "http://240.0.0.1/hook",
    "http://[2002:7f00:1::]/hook",
    "http://[64:ff9b::a9fe:a9fe]/hook",
    "http://[fe80::1]/hook",
    "http://[fc00::1]/hook",
    "http://localhost/hook",
    "ftp://8.8.8.8/hook",
    "file:///etc/passwd",
    "http://user:pw@8.8.8.8/hook",
    "http://8.8.8.8:22/hook",
    "http://8.8.8.8:6379/hook",
]


@pytest.mark.parametrize("url", SSRF_VECTORS)
def test_ssrf_vectors_are_refused_at_save(auth_client, url):
    response = auth_client.post("/api/webhooks/endpoints", {"url": url}, format="json")
    assert response.status_code == 400, url
    assert "url" in response.json()["errors"]
    assert not WebhookEndpoint.objects.exists()


def test_public_addresses_pass_the_check():
    target = ssrf.check_url("https://8.8.8.8/hook?x=1")
    assert (target.address, target.port, target.path) == ("8.8.8.8", 443, "/hook?x=1")


def test_the_address_is_checked_again_at_every_attempt(
    auth_client, endpoint_for, receiver, settings, django_capture_on_commit_callbacks
):
    # DNS here cannot be made to answer public-then-private (no resolver we control, and
    # /etc/hosts is the machine's), so the flip is the check's verdict instead: saved while the
    # address was allowed, refused at the attempt once it is not. The attempt connects only to
    # the address it checked (pinned), so a rebinding between check and connect cannot move it.
    endpoint_for()
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    _create_task(auth_client, django_capture_on_commit_callbacks)
    delivery = EndpointDelivery.objects.get()
    assert delivery.error.startswith("refused:") and delivery.response_status is None
    assert receiver.state["requests"] == []


def test_the_connection_goes_to_the_pinned_address_with_the_name_as_host(
    auth_client, receiver, django_capture_on_commit_callbacks
):
    url = f"http://localhost:{receiver.port}/hook"
    target = ssrf.check_url(url)
    assert target.address == "127.0.0.1" and target.host_header == f"localhost:{receiver.port}"
    response = auth_client.post("/api/webhooks/endpoints", {"url": url}, format="json")
    assert response.status_code == 201
    _create_task(auth_client, django_capture_on_commit_callbacks)
    assert receiver.state["requests"][0]["headers"]["Host"] == f"localhost:{receiver.port}"


def test_a_redirect_to_localhost_is_refused_as_a_url(auth_client, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    response = auth_client.post("/api/webhooks/endpoints", {"url": "http://localhost:8080/"}, format="json")
    assert response.status_code == 400


# ------------------------------------------------------------------------------ secrets
def test_secrets_never_reach_the_logs(auth_client, endpoint_for, receiver, caplog, django_capture_on_commit_callbacks):
    caplog.set_level(logging.DEBUG)
    endpoint = endpoint_for()
    rotated = auth_client.post(f"/api/webhooks/endpoints/{endpoint['id']}/rotate-secret").json()["data"]["secret"]
    receiver.state["answers"].append((500, {}, b"x"))
    _create_task(auth_client, django_capture_on_commit_callbacks)
    signature = receiver.state["requests"][0]["headers"]["webhook-signature"]
    text = caplog.text
    for secret in (endpoint["secret"], rotated):
        assert secret not in text and secret.removeprefix("whsec_") not in text
    for part in signature.split(" "):
        assert part.split(",", 1)[1] not in text
    stored = WebhookEndpoint.objects.get()
    assert rotated not in stored.secret_enc and rotated not in json.dumps(list(WebhookEndpoint.objects.values()),
                                                                           default=str)


def test_gamification_events_arrive_with_their_shapes(
    auth_client, endpoint_for, receiver, django_capture_on_commit_callbacks
):
    endpoint = endpoint_for()
    task = _create_task(auth_client, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        assert auth_client.post(f"/api/tasks/{task['id']}/complete", {}, format="json").status_code == 200
    payloads = [_verify(endpoint["secret"], r) for r in receiver.state["requests"]]
    by_type = {p["type"]: p["data"] for p in payloads}
    assert by_type["task.completed"]["status"] == "completed"
    assert by_type["streak.updated"]["daily"]["current"] == 1
    if "badge.awarded" in by_type:
        assert by_type["badge.awarded"]["earnedAt"]
    if "level.up" in by_type:
        assert by_type["level.up"]["toLevel"] > by_type["level.up"]["fromLevel"]
    assert len({r["headers"]["webhook-id"] for r in receiver.state["requests"]}) == len(payloads)
