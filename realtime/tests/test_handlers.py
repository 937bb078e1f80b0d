"""The socket layer's reactions to account events."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync

from kernel.redis import get_redis
from realtime import presence, publisher

pytestmark = pytest.mark.django_db


def test_user_deleted_clears_redis_state(user, django_capture_on_commit_callbacks):
    from accounts.services import delete_user

    r = get_redis()
    user_id = user.id
    publisher.next_event_id(user_id)
    async_to_sync(presence.register)(user_id, "specific.x!1")
    assert r.exists(publisher.seq_key(user_id))
    with django_capture_on_commit_callbacks(execute=True):
        delete_user(user)
    assert not r.exists(publisher.seq_key(user_id))
    assert not presence.is_online(user_id)
