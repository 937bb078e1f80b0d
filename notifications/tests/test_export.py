"""Notifications' own reads (the user export) and the test helper that captures socket pushes."""

from __future__ import annotations

import pytest

from notifications.models import Notification
from realtime import publisher

pytestmark = pytest.mark.django_db


# ------------------------------------------------------------------ export
def test_export_section(user):
    from kernel import exports

    Notification.objects.create(user=user, type="system", title="Hi")
    data = exports.export_user(user)["notifications"]
    assert [n["title"] for n in data["notifications"]] == ["Hi"]
    assert data["settings"]["in_app"] is True


# ------------------------------------------------------------------ devtools.testing.channels
def test_group_listener_sees_pushes_with_any_layer(user, django_capture_on_commit_callbacks):
    from devtools.testing.channels import GroupListener
    from notifications import services

    with GroupListener(publisher.user_group(user.id)) as listener:
        with django_capture_on_commit_callbacks(execute=True):
            services.notify(user, "system", "One")
            services.notify(user, "system", "Two")
        events = listener.events()
        assert [e["notification"]["title"] for e in events] == ["One", "Two"]
        assert events[0]["id"] < events[1]["id"]
        assert listener.events(timeout=0.3) == []
