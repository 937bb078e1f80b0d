"""Fixtures for the admin tests: one signed-in Django test client per role.

    from devtools.testing.admin import admin_user, staff_member, moderator, plain_user, client_as  # noqa: F401

Each role user holds exactly its role (groups of `kernel.roles`), never superuser, so the
tests exercise the permissions the roles grant, not a superuser's bypass.
"""

from __future__ import annotations

import asyncio
import itertools

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.apps import apps
from django.test import Client

from accounts.models import User
from kernel import roles
from realtime.publisher import user_group

_numbers = itertools.count(1)


@pytest.fixture
def make_role_user(db, password):
    roles.sync_roles()  # transactional tests flush the groups; recreate them (idempotent)

    def make(*role_names, email=None, name=None, **extra):
        n = next(_numbers)
        user = User.objects.create_user(
            email=email or f"{'-'.join(role_names) or 'user'}{n}@example.com",
            password=password,
            name=name or f"{' '.join(role_names).title() or 'User'} {n}",
            **extra,
        )
        roles.set_roles(user, role_names)
        return user

    return make


@pytest.fixture
def admin_user(make_role_user):
    return make_role_user(roles.ADMIN, email="admin-role@example.com", name="Ada Admin")


@pytest.fixture
def staff_member(make_role_user):
    return make_role_user(roles.STAFF, email="staff-role@example.com", name="Sam Staff")


@pytest.fixture
def moderator(make_role_user):
    return make_role_user(roles.MODERATOR, email="moderator-role@example.com", name="Mo Moderator")


@pytest.fixture
def plain_user(make_role_user):
    return make_role_user(email="plain@example.com", name="Pat Plain")


@pytest.fixture
def client_as(db):
    """client_as(user) -> a Django test Client signed in as `user` (session auth, like a browser)."""

    def make(user) -> Client:
        client = Client()
        client.force_login(user, backend="accounts.backends.EmailBackend")
        return client

    return make


def action(client, changelist_url: str, action_name: str, ids, **extra):
    """POST an admin changelist action for the given object ids."""
    data = {"action": action_name, "_selected_action": [str(i) for i in ids], "index": 0, **extra}
    return client.post(changelist_url, data)


def capture_user_events(user, fn, *, timeout: float = 2.0):
    """Run `fn()` while a stand-in socket of `user` listens on the channel layer; return
    (fn's result, the events the user's sockets were sent).

    Everything runs on one event loop (the channel layer may keep state per loop, as the Redis
    pub/sub layer does), and `fn` runs in the calling thread, inside the test's transaction.
    """
    async def main():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        group = user_group(user.pk)
        await layer.group_add(group, channel)
        try:
            result = await sync_to_async(fn)()
            events = []
            while True:
                try:
                    message = await asyncio.wait_for(layer.receive(channel), timeout if not events else 0.3)
                except TimeoutError:
                    return result, events
                events.append(message["event"])
        finally:
            await layer.group_discard(group, channel)

    return async_to_sync(main)()


def transactional_db_mark():
    """The django_db mark for admin tests that need committed data (live server, daphne, beat).

    `available_apps` (all of them) makes Django create any missing content types and
    permissions when the test starts and flush *without* re-running post_migrate when it ends,
    so the database is left empty, as after a `serialized_rollback` test: a later
    `serialized_rollback` test restores into it without colliding with rows post_migrate made.
    """
    return pytest.mark.django_db(transaction=True, available_apps=[config.name for config in apps.get_app_configs()])
