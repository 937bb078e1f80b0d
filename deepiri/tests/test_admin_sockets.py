"""Admin actions seen on real sockets: a daphne process and `websockets` clients."""

# ruff: noqa: F811  (fixtures are imported and named as parameters)
from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse
from websockets.exceptions import ConnectionClosed

from devtools.testing.admin import action, client_as, make_role_user, staff_member, transactional_db_mark  # noqa: F401
from devtools.testing.celery import eager_celery  # noqa: F401
from devtools.testing.daphne import _daphne_process, daphne_server  # noqa: F401
from realtime.tests.test_socket_live import Socket, run

pytestmark = [pytest.mark.services, transactional_db_mark()]


def test_announcement_arrives_on_the_socket(daphne_server, client_as, staff_member, make_role_user):
    user = make_role_user(email="listener@example.com")
    client = client_as(staff_member)

    async def main():
        sock = await Socket.open(daphne_server, user)
        response = await sync_to_async(client.post)(
            reverse("admin:notifications_notification_announce"),
            {
                "title": "Welcome to season 2",
                "message": "New badges are out.",
                "priority": "medium",
                "audience": "emails",
                "emails": user.email,
                "_send": "Send announcement",
            },
        )
        assert response.status_code == 302
        event = await sock.next("notification", timeout=10)
        assert event["notification"]["title"] == "Welcome to season 2"
        assert event["notification"]["type"] == "system"
        await sock.close()

    run(main)


def test_deactivation_closes_open_sockets(daphne_server, client_as, staff_member, make_role_user):
    user = make_role_user(email="to-deactivate@example.com")
    client = client_as(staff_member)

    async def main():
        sock = await Socket.open(daphne_server, user)
        response = await sync_to_async(action)(
            client, reverse("admin:accounts_user_changelist"), "deactivate_users", [user.pk]
        )
        assert response.status_code == 302
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(sock.ws.recv(), 5)
        assert closed.value.rcvd.code == 4401

    run(main)
