"""Per-user socket event ids never go backwards, even when Redis loses its data: they are drawn
in Redis inside blocks reserved in PostgreSQL."""

from __future__ import annotations

import asyncio
import threading

import pytest
from django.db import connection

from kernel.redis import get_redis
from realtime import publisher
from realtime.models import EventSequence

pytestmark = pytest.mark.django_db(transaction=True)


def draw_async(user_id: str, n: int) -> list[int]:
    async def run():
        return await asyncio.gather(*(publisher.anext_event_id(user_id) for _ in range(n)))

    return asyncio.run(run())


def test_ids_increase_across_a_redis_loss(user):
    first = [publisher.next_event_id(user.pk) for _ in range(5)]
    assert first == [1, 2, 3, 4, 5]
    get_redis().flushdb()  # Redis restarted empty
    after = [publisher.next_event_id(user.pk) for _ in range(3)]
    assert after[0] > first[-1]
    assert after == sorted(set(after))
    assert EventSequence.objects.get(user_id=user.pk).reserved >= after[-1]


def test_room_events_drawn_by_sockets_share_the_guarantee(user):
    sync_ids = [publisher.next_event_id(user.pk) for _ in range(3)]
    socket_ids = draw_async(user.pk, 20)  # one pipeline for the 20
    assert sorted(socket_ids) == list(range(sync_ids[-1] + 1, sync_ids[-1] + 21))
    get_redis().flushdb()
    again = draw_async(user.pk, 5)
    assert min(again) > max(socket_ids)
    assert len(set(again)) == 5


def test_a_block_running_out_reserves_the_next_without_a_gap_backwards(user, monkeypatch):
    monkeypatch.setattr(publisher.sequence, "BLOCK", 3)
    ids = [publisher.next_event_id(user.pk) for _ in range(10)]
    assert ids == sorted(set(ids))
    assert EventSequence.objects.get(user_id=user.pk).reserved >= ids[-1]


def test_the_first_reservation_starts_above_stored_notification_ids(user):
    from notifications.models import Notification

    Notification.objects.create(user=user, type="system", title="old", event_id=41)
    assert publisher.next_event_id(user.pk) == 42


def test_concurrent_publishers_and_a_redis_loss_never_repeat_an_id(user, monkeypatch):
    monkeypatch.setattr(publisher.sequence, "BLOCK", 7)
    seen, lock = [], threading.Lock()

    def publish(n):
        try:
            for _ in range(n):
                event_id = publisher.next_event_id(user.pk)
                with lock:
                    seen.append(event_id)
        finally:
            connection.close()

    threads = [threading.Thread(target=publish, args=(40,)) for _ in range(4)]
    for t in threads:
        t.start()
    get_redis().delete(publisher.seq_key(user.pk), publisher.ceiling_key(user.pk))  # lost mid-flight
    for t in threads:
        t.join(60)
    assert len(seen) == 160
    assert len(set(seen)) == 160
