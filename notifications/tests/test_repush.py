"""Crash recovery: a notification committed but never pushed is pushed by the beat job."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from devtools.testing.channels import GroupListener
from notifications.models import Notification
from notifications.tasks import repush_pending
from realtime import publisher

pytestmark = pytest.mark.django_db


def test_a_lost_push_is_recovered_once(user, django_capture_on_commit_callbacks):
    # Rows written without notify(): as if the process died right after the commit.
    lost = Notification.objects.create(user=user, type="system", title="Lost")
    Notification.objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    stale = Notification.objects.create(user=user, type="system", title="Last week")
    Notification.objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(days=7))
    in_flight = Notification.objects.create(user=user, type="system", title="Just now")  # its push is on its way
    with GroupListener(publisher.user_group(user.id)) as listener:
        with django_capture_on_commit_callbacks(execute=True):
            assert repush_pending() == 1
        sent = listener.events()
    assert [e["notification"]["title"] for e in sent] == ["Lost"]
    lost.refresh_from_db()
    assert lost.event_id == sent[0]["id"] and lost.pushed_at is not None
    assert sent[0]["notification"]["status"] == "delivered"
    in_flight.refresh_from_db()
    stale.refresh_from_db()
    assert in_flight.event_id is None and stale.event_id is None  # left to `since`
    with django_capture_on_commit_callbacks(execute=True):
        assert repush_pending() == 0
