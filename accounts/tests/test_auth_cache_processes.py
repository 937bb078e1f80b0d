"""On the embedded defaults (no REDIS_URL: the cache lives in each process's memory) a change
to a user made by ANOTHER process is seen at once: a daphne serving requests, and manage.py
deactivating the user or taking a role away."""

from __future__ import annotations

import pytest

from devtools.testing.liveapi import LiveAPI

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    with LiveAPI.embedded(tmp_path_factory.mktemp("embedded-auth")) as api:
        yield api


def test_a_user_deactivated_by_another_process_loses_access_at_once(embedded):
    me = embedded.register("moved@example.com", "Moved Elsewhere")
    for _ in range(2):  # read twice: any per-process cache now holds the user
        assert embedded.call("GET", "/api/users/profile", me).status_code == 200
    embedded.manage(
        "shell", "-c",
        "from accounts.models import User; u = User.objects.get(email='moved@example.com'); "
        "u.is_active = False; u.save()",
    )
    assert embedded.call("GET", "/api/users/profile", me).status_code == 401


def test_a_name_changed_by_another_process_is_served_at_once(embedded):
    me = embedded.register("renamed@example.com", "Old Name")
    assert embedded.call("GET", "/api/auth/verify", me).json()["data"]["user"]["name"] == "Old Name"
    embedded.manage(
        "shell", "-c",
        "from accounts.models import User; User.objects.filter(email='renamed@example.com').update(name='New Name')",
    )
    assert embedded.call("GET", "/api/auth/verify", me).json()["data"]["user"]["name"] == "New Name"
