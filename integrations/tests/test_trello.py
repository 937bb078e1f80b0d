"""Trello end to end against the fake: OAuth 1.0a (signatures checked by the fake), token
connect, boards read whole only when they changed, Done lists and archived cards, deletions by
set difference, the 10-second token limiter, HEAD checks and signed webhooks."""

from __future__ import annotations

import pytest

from integrations import services
from integrations.models import Connection, ImportedItem, SyncRun
from integrations.providers.base import RateLimited
from tasks.models import Task

pytestmark = pytest.mark.django_db


def _sync(client, **body):
    response = client.post("/api/integrations/trello/sync", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()["data"]


def test_oauth1_connect_stores_token_and_secret_encrypted(auth_client, user, trello, connect):
    assert connect(auth_client, trello, "trello")["status"] == "connected"
    conn = Connection.objects.get(user=user)
    assert conn.auth_type == "oauth1" and conn.access_token.startswith("ATTA") and conn.token_secret
    assert "ATTA" not in conn.access_token_enc and conn.token_secret not in conn.token_secret_enc
    assert conn.external_account_name == "ada"
    assert trello.count("code_exchanged") == 1  # the access-token step (signed with the verifier)


def test_token_connect_validates_the_token(auth_client, user, trello):
    bad = auth_client.post(
        "/api/integrations/connect", {"service": "trello", "credentials": {"token": "nope"}}, format="json"
    )
    assert bad.status_code == 400 and "credentials" in bad.json()["errors"]
    token, _ = trello.issue("ada", access_prefix="ATTA", with_refresh=False)
    ok = auth_client.post(
        "/api/integrations/connect", {"service": "trello", "credentials": {"token": token}}, format="json"
    )
    assert ok.status_code == 201 and ok.json()["data"]["authType"] == "token"
    assert token not in ok.content.decode()


def test_boards_sync_done_lists_archived_and_deleted_cards(auth_client, user, trello, connect):
    work, home = trello.add_board("Work"), trello.add_board("Home")
    a = trello.add_card(work, "Pay invoice", due="2026-05-10T16:00:00.000Z", labels=["finance"])
    b = trello.add_card(work, "Write docs", list_name="Doing")
    c = trello.add_card(home, "Fix sink")
    connect(auth_client, trello, "trello")
    data = _sync(auth_client)
    assert data["run"]["createdCount"] == 3
    task_a = Task.objects.get(source_id=a)
    assert task_a.due_date.isoformat().startswith("2026-05-10T16:00") and task_a.due_date_only is False
    assert task_a.tags == ["finance"] and Task.objects.get(source_id=b).status == "in_progress"

    trello.tick(5)
    cards_calls = trello.count("card_pages")
    data = _sync(auth_client)
    assert data["run"]["createdCount"] == data["run"]["updatedCount"] == 0
    assert trello.count("card_pages") == cards_calls  # untouched boards are not re-read

    trello.tick(5)
    trello.edit_card(a, list_name="Done")
    trello.edit_card(b, closed=True)
    trello.delete_card(c)
    data = _sync(auth_client)
    assert data["run"]["completedCount"] == 1 and data["run"]["deletedCount"] == 1
    assert Task.objects.get(source_id=a).status == "completed"
    assert Task.objects.get(source_id=b).status == "cancelled"
    assert ImportedItem.objects.get(external_id=c).deleted_upstream_at is not None
    assert Task.objects.get(source_id=c).status == "cancelled"
    assert Task.objects.filter(user=user).count() == 3


def test_token_limiter_429_waits_out_the_window(auth_client, user, trello, connect):
    for i in range(3):
        trello.add_board(f"B{i}")
    connect(auth_client, trello, "trello")
    trello.token_limit = 2  # the 3rd request inside 10 s is refused
    conn = Connection.objects.get(user=user)
    with pytest.raises(RateLimited) as info:
        services.sync_connection(conn.pk)
    assert info.value.retry_after == 10.0 and info.value.code == "API_TOKEN_LIMIT_EXCEEDED"
    assert SyncRun.objects.get().status == "retrying"


def test_webhook_head_check_signature_and_replay(
    api_client, auth_client, user, trello, connect, django_capture_on_commit_callbacks
):
    board = trello.add_board("Work")
    card = trello.add_card(board, "Before")
    connect(auth_client, trello, "trello")
    _sync(auth_client)
    url = "/api/integrations/webhooks/trello"
    assert api_client.head(url).status_code == 200  # Trello's creation check
    callback = services.webhook_url("trello")
    body, headers = trello.signed_event("updateCard", card, callback_url=callback, secret="forged")
    assert api_client.post(url, body, content_type="application/json", headers=headers).status_code == 401
    # Signed for another callback URL: refused too (the URL is part of the signed text).
    body, headers = trello.signed_event("updateCard", card, callback_url="https://evil.example/hook")
    assert api_client.post(url, body, content_type="application/json", headers=headers).status_code == 401
    trello.edit_card(card, name="After")
    body, headers = trello.signed_event("updateCard", card, callback_url=callback, action_id="a" * 24)
    with django_capture_on_commit_callbacks(execute=True):
        ok = api_client.post(url, body, content_type="application/json", headers=headers)
    assert ok.status_code == 200 and ok.json()["data"]["connections"] == 1
    assert Task.objects.get(source_id=card).title == "After"
    with django_capture_on_commit_callbacks(execute=True):
        again = api_client.post(url, body, content_type="application/json", headers=headers)
    assert again.json()["data"]["duplicate"] is True
    # A deleteCard delivery: the card is gone upstream and is marked.
    trello.delete_card(card)
    body, headers = trello.signed_event("deleteCard", card, callback_url=callback)
    with django_capture_on_commit_callbacks(execute=True):
        assert api_client.post(url, body, content_type="application/json", headers=headers).status_code == 200
    assert ImportedItem.objects.get(external_id=card).deleted_upstream_at is not None


def test_disconnect_revokes_the_token(auth_client, user, trello, connect):
    connect(auth_client, trello, "trello")
    token = Connection.objects.get(user=user).access_token
    response = auth_client.post("/api/integrations/trello/disconnect")
    assert response.status_code == 200 and response.json()["data"]["revoked"] is True
    assert trello.user_for(token) is None
    conn = Connection.objects.get(user=user)
    assert conn.access_token_enc == conn.token_secret_enc == ""


@pytest.mark.django_db(transaction=True)
def test_webhook_registration_passes_trellos_head_check_and_deliveries_sync(
    live_server, settings, make_user, client_factory, trello, connect
):
    """Served over real HTTP: Trello HEAD-checks our callback before creating the webhook, then
    POSTs signed deliveries to it; each one re-reads the card."""
    import time

    from integrations.tests.fakes.trello import deliver

    settings.INTEGRATIONS_PUBLIC_URL = live_server.url
    user = make_user()
    client = client_factory(user)
    board = trello.add_board("Work")
    card = trello.add_card(board, "Before")
    connect(client, trello, "trello")  # the first sync runs after commit (inline Celery)
    assert Task.objects.get(user=user, source_id=card).title == "Before"
    hooks = services.register_webhooks(Connection.objects.get(user=user))
    assert [h["board_id"] for h in hooks] == [board]
    head = [r for r in trello.requests if r["path"] == "/1/webhooks"]
    assert (
        head and trello.webhooks[hooks[0]["id"]]["callbackURL"] == f"{live_server.url}/api/integrations/webhooks/trello"
    )

    trello.edit_card(card, name="After")
    assert deliver(trello, "updateCard", card) == [200]
    deadline = time.monotonic() + 10
    while Task.objects.get(user=user, source_id=card).title != "After" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert Task.objects.get(user=user, source_id=card).title == "After"
    # Disconnecting removes the webhook at Trello.
    assert client.post("/api/integrations/trello/disconnect").status_code == 200
    assert trello.webhooks == {}
