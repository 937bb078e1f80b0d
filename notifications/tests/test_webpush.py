"""Web push against a loopback push service that does what a real one does: it checks the VAPID
JWT (RFC 8292) against the key in the Authorization header and decrypts the aes128gcm body
(RFC 8291) with the browser's private key, as the browser would."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler

import http_ece
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02

from devtools.testing.celery import eager_celery  # noqa: F401 - autouse: jobs run inline
from devtools.testing.fakeserver import FakeServer
from notifications import webpush
from notifications.models import PushSubscription
from notifications.services import notify, update_settings
from tasks.reminders import services as reminders
from tasks.services import create_task

pytestmark = [pytest.mark.services, pytest.mark.django_db]


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Browser:
    """The keys a browser makes when it subscribes."""

    def __init__(self):
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.p256dh = b64url(
            self.private_key.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        )
        self.auth_secret = os.urandom(16)
        self.auth = b64url(self.auth_secret)


class PushService(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):  # noqa: N802 - http.server's name
        state = self.server.state
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        state.setdefault("requests", []).append({"path": self.path, "headers": dict(self.headers)})
        status = state["statuses"].pop(0) if state.get("statuses") else 201
        if status == 201:
            scheme, _, params = self.headers["Authorization"].partition(" ")
            fields = dict(part.split("=", 1) for part in params.split(","))
            assert scheme == "vapid"
            assert fields["k"] == state["vapid_public_key"]  # the key the browser subscribed with
            point = unb64url(fields["k"])
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
            claims = jwt.decode(fields["t"], public, algorithms=["ES256"], audience=f"http://127.0.0.1:{self.server.server_address[1]}")
            assert claims["sub"].startswith("mailto:") and claims["exp"] > datetime.now(UTC).timestamp()
            browser = state["browsers"][self.path]
            assert self.headers["Content-Encoding"] == "aes128gcm"
            plain = http_ece.decrypt(raw, private_key=browser.private_key, auth_secret=browser.auth_secret, version="aes128gcm")
            state.setdefault("delivered", []).append({"path": self.path, "payload": json.loads(plain), "headers": dict(self.headers)})
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", "0")
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def push_service(settings):
    vapid = Vapid02()
    vapid.generate_keys()
    public = b64url(vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))
    settings.VAPID_PUBLIC_KEY = public
    settings.VAPID_PRIVATE_KEY = vapid.private_pem().decode()
    settings.VAPID_SUBJECT = "mailto:ops@example.com"
    settings.WEBPUSH_ENABLED = True
    settings.WEBPUSH_INSECURE_ENDPOINT_HOSTS = ["127.0.0.1"]
    with FakeServer(PushService, {"vapid_public_key": public, "browsers": {}}) as server:
        yield server


def subscribe(client, server, path="/push/abc"):
    browser = Browser()
    server.state["browsers"][path] = browser
    response = client.post(
        "/api/push/subscriptions",
        {"endpoint": server.url + path, "expirationTime": None, "keys": {"p256dh": browser.p256dh, "auth": browser.auth}},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return browser


def test_vapid_key_and_subscriptions_are_off_without_keys(auth_client, settings):
    settings.WEBPUSH_ENABLED = False
    assert auth_client.get("/api/push/vapid-public-key").status_code == 404
    assert webpush.health() == "off"


def test_a_reminder_arrives_decrypted_and_signed(auth_client, user, push_service, django_capture_on_commit_callbacks):
    assert auth_client.get("/api/push/vapid-public-key").json()["data"]["publicKey"] == push_service.state["vapid_public_key"]
    assert webpush.health() == "on"
    subscribe(auth_client, push_service)
    due = datetime.now(UTC) + timedelta(minutes=10)
    task = create_task(user, title="Call the bank \u260e", due_date=due, understand=False)
    reminders.create_reminder(user, task, offset_seconds=-900)  # already due
    with django_capture_on_commit_callbacks(execute=True):
        assert reminders.fire_due() == {"sent": 1}
    [delivered] = push_service.state["delivered"]
    assert delivered["payload"]["title"] == "Reminder: Call the bank \u260e"
    assert delivered["payload"]["type"] == "task_reminder"
    assert delivered["payload"]["data"]["taskId"] == task.pk
    assert delivered["headers"]["Urgency"] == "high" and int(delivered["headers"]["TTL"]) > 0
    assert PushSubscription.objects.get().last_success_at is not None


@pytest.mark.parametrize("status", [404, 410])
def test_gone_expires_the_subscription(auth_client, user, push_service, status, django_capture_on_commit_callbacks):
    subscribe(auth_client, push_service)
    push_service.state["statuses"] = [status]
    with django_capture_on_commit_callbacks(execute=True):
        notify(user, "task_reminder", "One", dedupe_key="one")
    subscription = PushSubscription.objects.get()
    assert subscription.expired_at is not None
    with django_capture_on_commit_callbacks(execute=True):
        notify(user, "task_reminder", "Two", dedupe_key="two")
    assert len(push_service.state["requests"]) == 1  # an expired subscription is not called again


def test_429_and_5xx_are_retried_with_backoff(auth_client, user, push_service):
    subscribe(auth_client, push_service)
    subscription = PushSubscription.objects.get()
    payload = webpush.payload_of("task_reminder", "Hello", "", {}, None)
    push_service.state["statuses"] = [429, 503]
    assert webpush.send(subscription, payload) == "sent"  # the quick retries got through
    assert len(push_service.state["requests"]) == 3
    push_service.state["statuses"] = [503, 503, 503]
    with pytest.raises(webpush.PushRetry):  # the job's retry (Celery, with backoff) takes over
        webpush.send(subscription, payload)
    subscription.refresh_from_db()
    assert subscription.failures == 1 and subscription.expired_at is None
    assert webpush.push_to_subscription.autoretry_for == (webpush.PushRetry, webpush.http.Unavailable)
    assert webpush.push_to_subscription.retry_backoff


def test_web_push_off_in_settings_sends_nothing(auth_client, user, push_service, django_capture_on_commit_callbacks):
    subscribe(auth_client, push_service)
    update_settings(user, web_push_enabled=False)
    with django_capture_on_commit_callbacks(execute=True):
        notify(user, "task_reminder", "Quiet", dedupe_key="quiet")
    assert "requests" not in push_service.state


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://fcm.googleapis.com/fcm/send/x",  # not https
        "https://169.254.169.254/latest/meta-data",  # not a push service
        "https://evil.example/fcm.googleapis.com",
        "https://fcm.googleapis.com.evil.example/x",
        "https://user:pw@fcm.googleapis.com/x",
        "http://127.0.0.1:1/x",  # loopback only where the operator allows it (tests do, below)
        "not a url",
    ],
)
def test_only_push_services_may_be_subscribed(auth_client, settings, endpoint):
    settings.WEBPUSH_ENABLED = True
    browser = Browser()
    response = auth_client.post(
        "/api/push/subscriptions", {"endpoint": endpoint, "keys": {"p256dh": browser.p256dh, "auth": browser.auth}},
        format="json",
    )
    assert response.status_code == 400 and "endpoint" in response.json()["errors"]
    assert not PushSubscription.objects.exists()


def test_bad_keys_are_a_400(auth_client, settings):
    settings.WEBPUSH_ENABLED = True
    response = auth_client.post(
        "/api/push/subscriptions",
        {"endpoint": "https://fcm.googleapis.com/fcm/send/x", "keys": {"p256dh": "AAAA", "auth": "!!"}},
        format="json",
    )
    assert response.status_code == 400 and "keys" in response.json()["errors"]


def test_delete_only_removes_ones_own(auth_client, other_client, push_service):
    subscribe(auth_client, push_service)
    endpoint = PushSubscription.objects.get().endpoint
    assert other_client.delete("/api/push/subscriptions", {"endpoint": endpoint}, format="json").status_code == 404
    assert PushSubscription.objects.exists()
    assert auth_client.delete("/api/push/subscriptions", {"endpoint": endpoint}, format="json").status_code == 200
    assert not PushSubscription.objects.exists()

