"""A failed sync says how it failed, the way staff need it: connection refused, DNS lookup
failed, timed out, or the provider's HTTP status. The class is decided when the sync fails
(from the network error or the answer), stored on the run, shown and filterable in the admin."""

# ruff: noqa: F811  (fixtures are imported and named as parameters)
from __future__ import annotations

import socket
import threading

import pytest
from django.urls import reverse

from devtools.testing.admin import client_as, make_role_user, staff_member  # noqa: F401  (fixtures)
from integrations.models import SyncRun

pytestmark = pytest.mark.django_db

RUNS = reverse("admin:integrations_syncrun_changelist")


def _point_notion_at(settings, url: str) -> None:
    providers = {k: dict(v) for k, v in settings.INTEGRATIONS_PROVIDERS.items()}
    providers["notion"] = {**providers["notion"], "api_base": url}
    settings.INTEGRATIONS_PROVIDERS = providers


def _sync(client) -> SyncRun:
    response = client.post("/api/integrations/notion/sync", {}, format="json")
    assert response.status_code == 200, response.content
    run = SyncRun.objects.get(pk=response.json()["data"]["run"]["id"])
    assert run.status == SyncRun.Status.FAILED, (run.status, run.error)
    return run


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the block ends: nothing listens there


class _Silent:
    """Accepts connections and never answers (a hung peer)."""

    def __enter__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.held: list[socket.socket] = []
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                self.held.append(self.sock.accept()[0])
            except OSError:
                continue

    def __exit__(self, *exc):
        self.stop.set()
        for conn in self.held:
            conn.close()
        self.sock.close()


def test_each_failure_is_classified_stored_and_shown(
    auth_client, user, notion, connect, settings, client_as, staff_member
):
    settings.INTEGRATIONS_HTTP_RETRIES = 0
    settings.INTEGRATIONS_HTTP_READ_TIMEOUT = 0.5
    settings.INTEGRATIONS_HTTP_TOTAL_TIMEOUT = 2.0
    notion.add_data_source()
    connect(auth_client, notion, "notion")
    classes = {}

    notion.inject(status=403, path="/v1/search", count=1, headers={}, body={"object": "error", "code": "restricted_resource"})
    classes["http_403"] = _sync(auth_client)
    notion.inject(status=503, path="/v1/search", count=5, headers={}, body={"object": "error", "code": "service_unavailable"})
    classes["http_503"] = _sync(auth_client)

    _point_notion_at(settings, f"http://127.0.0.1:{_closed_port()}")
    classes["refused"] = _sync(auth_client)
    _point_notion_at(settings, "http://deepiri-sync-test.invalid")  # .invalid never resolves (RFC 6761)
    classes["dns"] = _sync(auth_client)
    with _Silent() as hung:
        _point_notion_at(settings, hung)
        classes["timeout"] = _sync(auth_client)

    assert {name: run.error_class for name, run in classes.items()} == {name: name for name in classes}

    # the admin: the class in words, in the list and in the connection's history, and a filter
    client = client_as(staff_member)
    listing = client.get(RUNS).content.decode()
    for label in ("HTTP 403", "HTTP 503", "connection refused", "DNS lookup failed", "timed out"):
        assert f'<td class="field-failure">{label}</td>' in listing, label
    assert user.email in listing and classes["dns"].connection_id not in listing  # names, not ids
    refused_only = client.get(RUNS, {"error_class": "refused"}).content.decode()
    assert "connection refused" in refused_only and "DNS lookup failed" not in refused_only
    history = client.get(reverse("admin:integrations_connection_change", args=[classes["dns"].connection_id]))
    page = history.content.decode()
    for label in ("HTTP 403", "connection refused", "DNS lookup failed", "timed out"):
        assert f'<td class="failure">{label}</td>' in page, label
    # a run's page names its connection and user, not their ids
    run_page = client.get(reverse("admin:integrations_syncrun_change", args=[classes["refused"].pk])).content.decode()
    assert f"Notion for {user.email}" in run_page
