"""A sync's outcome -> the user's notification (integrations.services.notices, run after the
sync commits)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from integrations.events import IntegrationFailed, IntegrationSynced
from integrations.models import Connection, SyncRun
from integrations.services import notices
from notifications.models import Notification

pytestmark = pytest.mark.django_db


def _run(user, **counts):
    connection = Connection.objects.get_or_create(user=user, service="github")[0]
    return connection, SyncRun.objects.create(connection=connection, user=user, started_at=timezone.now(), **counts)


def test_integration_synced_and_failed(user):
    connection, run = _run(user, created_count=3, updated_count=1, trigger="schedule")
    notices.sync_finished(IntegrationSynced.of(user, connection, run))
    note = Notification.objects.get(user=user, type="integration_synced")
    assert note.title == "GitHub sync finished" and note.message == "3 new, 1 updated tasks."
    _, quiet = _run(user, trigger="schedule")  # a scheduled sync that changed nothing stays quiet
    notices.sync_finished(IntegrationSynced.of(user, connection, quiet))
    assert Notification.objects.filter(type="integration_synced").count() == 1
    notices.notify_failed(
        IntegrationFailed(
            user=user,
            provider=connection.service,
            connection_id=connection.pk,
            run_id=None,
            error="needs_reauth: token revoked",
        )
    )
    failed = Notification.objects.get(user=user, type="integration_failed")
    assert failed.title == "Reconnect GitHub" and failed.data["needs_reauth"] is True
