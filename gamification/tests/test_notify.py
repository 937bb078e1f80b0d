"""Gamification's awards -> notifications and socket pushes, after commit (run the action, capture
what went to the channel layer, check it against API.md)."""

from __future__ import annotations

import pytest

from devtools.testing.channels import GroupListener
from gamification import notices, services
from gamification.events import BadgeAwarded, LevelUp
from kernel import events
from notifications.models import Notification
from realtime import publisher

pytestmark = pytest.mark.django_db


def test_badge_awarded_notifies_once(user, commit):
    from gamification.models import Badge

    badge = Badge.objects.create(
        slug="t-badge",
        name="Test Badge",
        icon="*",
        description="For testing.",
        category="special",
        criteria={"type": "count", "metric": "tasks_completed", "value": 1},
    )
    with GroupListener(publisher.user_group(user.id)) as listener:
        with events.capture() as seen, commit():
            services.grant_badge(user, badge)
        sent = listener.events()
    (note,) = Notification.objects.filter(user=user)
    assert note.type == "badge_earned" and note.title == "Badge earned: Test Badge"
    assert note.data["slug"] == "t-badge"
    assert [e["type"] for e in sent] == ["notification"]
    assert sent[0]["notification"]["_id"] == note.id and sent[0]["id"] == Notification.objects.get().event_id
    assert sent[0]["ts"].endswith("Z")
    [awarded] = [e for e in seen if isinstance(e, BadgeAwarded)]  # other apps still hear of it
    assert awarded.badge == badge
    with commit():  # told again (a retried follow-up): still one notification
        notices.badge_earned(user, badge)
    assert Notification.objects.filter(user=user).count() == 1


def test_level_up_notifies(user, commit):
    with events.capture() as seen, commit():
        services.award(user, points=1000, xp=1000, reason="test", source="admin", idempotency_key="lvl")
    [level_up] = [e for e in seen if isinstance(e, LevelUp)]
    note = Notification.objects.get(user=user)
    assert note.type == "level_up" and note.priority == "high"
    assert note.data == {"from": level_up.from_level, "to": level_up.to_level} == {"from": 1, "to": 2}


def test_muted_type_is_not_stored_or_pushed(user, commit):
    from notifications import services as notifications

    notifications.update_settings(user, types={"level_up": {"in_app": False}})
    with GroupListener(publisher.user_group(user.id)) as listener:
        with commit():
            services.award(user, points=1000, xp=1000, reason="test", source="admin", idempotency_key="lvl")
        assert listener.events() == []
    assert not Notification.objects.exists()
