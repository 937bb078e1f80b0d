"""Staff screens of outgoing webhooks: endpoints and deliveries visible, never a secret, and a
"Resend" action that sends the same webhook-id again."""

# ruff: noqa: F811  (fixtures are imported and named as parameters)
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler

import pytest

from devtools.testing.admin import action, client_as, make_role_user, staff_member  # noqa: F401 - fixtures
from devtools.testing.celery import eager_celery  # noqa: F401  (autouse: the queued delivery runs inline)
from devtools.testing.fakeserver import FakeServer
from integrations.webhooks import services as webhooks
from integrations.webhooks.models import EndpointDelivery
from tasks import services as task_services

pytestmark = pytest.mark.django_db


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.state["lock"]:
            self.server.state["ids"].append(self.headers["webhook-id"])
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_staff_see_endpoints_and_deliveries_without_secrets_and_can_resend(
    client_as, staff_member, user, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    state = {"ids": [], "lock": threading.Lock()}
    with FakeServer(Receiver, state) as receiver:
        _check(client_as, staff_member, user, receiver, django_capture_on_commit_callbacks)


def _check(client_as, staff_member, user, receiver, django_capture_on_commit_callbacks):
    row, secret = webhooks.create_endpoint(user, url=f"{receiver.url}/hook")
    endpoint = {"id": row.pk, "secret": secret}
    task_services.create_task(user, title="x")
    delivery = EndpointDelivery.objects.get()
    client = client_as(staff_member)
    for url in (
        "/admin/integrations/webhookendpoint/",
        f"/admin/integrations/webhookendpoint/{endpoint['id']}/change/",
        "/admin/integrations/endpointdelivery/",
        f"/admin/integrations/endpointdelivery/{delivery.pk}/change/",
    ):
        page = client.get(url)
        assert page.status_code == 200, url
        assert endpoint["secret"] not in page.content.decode()
        assert "secret_enc" not in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = action(client, "/admin/integrations/endpointdelivery/", "resend", [delivery.pk])
    assert response.status_code == 302
    assert receiver.state["ids"] == [delivery.pk]
