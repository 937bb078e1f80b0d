"""The socket layer's reactions to account events."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync

from deepiri.redis import get_redis
from realtime import handlers, presence, publisher

pytestmark = pytest.mark.django_db


def test_user_deleted_clears_redis_state(user):
    r = get_redis()
    publisher.next_event_id(user.id)
    async_to_sync(presence.register)(user.id, "specific.x!1")
    assert r.exists(publisher.seq_key(user.id))
    handlers.on_user_deleted(user_id=user.id)
    assert not r.exists(publisher.seq_key(user.id))
    assert not presence.is_online(user.id)
