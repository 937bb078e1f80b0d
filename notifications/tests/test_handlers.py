"""Domain events -> notifications and socket events (Zulip-style: run the action, capture what
went to the channel layer, check it against API.md)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer

from deepiri import events
from notifications import reminders
from notifications.models import Notification
from realtime import publisher

pytestmark = pytest.mark.django_db


def pushes_during(group: str, action, timeout: float = 0.5) -> list[dict]:
    """Run `action` (in this thread, this transaction) and return the events sent to `group`."""

    async def go():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        await sync_to_async(action)()
        out = []
        while True:
            try:
                message = await asyncio.wait_for(layer.receive(channel), timeout)
            except TimeoutError:
                break
            out.append(message["event"])
        await layer.group_discard(group, channel)
        return out

    return async_to_sync(go)()


def emit_committed(django_capture_on_commit_callbacks, name, **payload):
    def action():
        with django_capture_on_commit_callbacks(execute=True):
            events.emit(name, **payload)

    return action


# ------------------------------------------------------------------ gamification events
def test_badge_awarded_notifies_once(user, django_capture_on_commit_callbacks):
    from gamification.models import Badge

    badge = Badge.objects.create(
        slug="t-badge",
        name="Test Badge",
        icon="*",
        description="For testing.",
        category="special",
        criteria={"type": "count", "metric": "tasks_completed", "value": 1},
    )
    sent = pushes_during(
        publisher.user_group(user.id),
        emit_committed(django_capture_on_commit_callbacks, "badge.awarded", user=user, badge=badge, user_badge=None),
    )
    (note,) = Notification.objects.filter(user=user)
    assert note.type == "badge_earned" and note.title == "Badge earned: Test Badge"
    assert note.data["slug"] == "t-badge"
    assert [e["type"] for e in sent] == ["notification"]
    assert sent[0]["notification"]["_id"] == note.id and sent[0]["id"] == note.__class__.objects.get().event_id
    assert sent[0]["ts"].endswith("Z")
    emit_committed(django_capture_on_commit_callbacks, "badge.awarded", user=user, badge=badge)()
    assert Notification.objects.filter(user=user).count() == 1


def test_level_up_notifies(user, django_capture_on_commit_callbacks):
    emit_committed(django_capture_on_commit_callbacks, "level.up", user=user, from_level=2, to_level=3)()
    note = Notification.objects.get(user=user)
    assert note.type == "level_up" and note.priority == "high"
    assert note.data == {"from": 2, "to": 3}


def test_muted_type_is_not_stored_or_pushed(user, django_capture_on_commit_callbacks):
    from notifications import services

    services.update_settings(user, types={"level_up": {"in_app": False}})
    sent = pushes_during(
        publisher.user_group(user.id),
        emit_committed(django_capture_on_commit_callbacks, "level.up", user=user, from_level=1, to_level=2),
    )
    assert sent == []
    assert not Notification.objects.exists()


# ------------------------------------------------------------------ challenge.generated
def test_challenge_generated_pushes_the_challenge_and_notifies(user, django_capture_on_commit_callbacks):
    from challenges.models import Challenge
    from tasks.models import Task

    task = Task.objects.create(user=user, title="Read chapter 3")
    challenge = Challenge.objects.create(user=user, task=task, type="quiz", title="Chapter 3 quiz", status="pending")
    sent = pushes_during(
        publisher.user_group(user.id),
        emit_committed(django_capture_on_commit_callbacks, "challenge.generated", user=user, challenge=challenge),
    )
    assert [e["type"] for e in sent] == ["challenge-generated", "notification"]
    assert sent[0]["challenge"]["_id"] == challenge.id
    assert sent[0]["challenge"]["taskId"]["title"] == "Read chapter 3"
    assert sent[0]["id"] < sent[1]["id"]
    assert Notification.objects.get(user=user).data["challenge_id"] == challenge.id


# ------------------------------------------------------------------ integrations
def _run(user, **counts):
    from django.utils import timezone

    from integrations.models import Connection, SyncRun

    connection = Connection.objects.get_or_create(user=user, service="github")[0]
    return connection, SyncRun.objects.create(connection=connection, user=user, started_at=timezone.now(), **counts)


def test_integration_synced_and_failed(user, django_capture_on_commit_callbacks):
    connection, run = _run(user, created_count=3, updated_count=1, trigger="schedule")
    emit_committed(
        django_capture_on_commit_callbacks, "integration.synced", user=user, connection=connection, run=run
    )()
    note = Notification.objects.get(user=user, type="integration_synced")
    assert note.title == "GitHub sync finished" and note.message == "3 new, 1 updated tasks."
    _, quiet = _run(user, trigger="schedule")  # a scheduled sync that changed nothing stays quiet
    emit_committed(
        django_capture_on_commit_callbacks, "integration.synced", user=user, connection=connection, run=quiet
    )()
    assert Notification.objects.filter(type="integration_synced").count() == 1
    emit_committed(
        django_capture_on_commit_callbacks,
        "integration.failed",
        user=user,
        connection=connection,
        run=None,
        error="needs_reauth: token revoked",
    )()
    failed = Notification.objects.get(user=user, type="integration_failed")
    assert failed.title == "Reconnect GitHub" and failed.data["needs_reauth"] is True


# ------------------------------------------------------------------ streak at risk
def _profile(user, **fields):
    from gamification.models import GamificationProfile

    return GamificationProfile.objects.create(user=user, **fields)


def test_streak_at_risk_in_the_users_local_evening(make_user, celery_eager):
    ny = make_user(timezone="America/New_York")
    tokyo = make_user(timezone="Asia/Tokyo")
    done_today = make_user(timezone="America/New_York")
    broken = make_user(timezone="America/New_York")
    now = datetime(2026, 3, 10, 0, 30, tzinfo=UTC)  # 20:30 in New York (EDT), 09:30 in Tokyo
    today = date(2026, 3, 9)
    yesterday = today - timedelta(days=1)
    _profile(ny, daily_current=4, daily_longest=4, daily_last_date=yesterday, daily_covered_through=yesterday)
    _profile(
        tokyo,
        daily_current=4,
        daily_longest=4,
        daily_last_date=date(2026, 3, 9),
        daily_covered_through=date(2026, 3, 9),
    )
    _profile(done_today, daily_current=5, daily_longest=5, daily_last_date=today, daily_covered_through=today)
    _profile(
        broken,
        daily_current=2,
        daily_longest=2,
        daily_last_date=today - timedelta(days=3),
        daily_covered_through=today - timedelta(days=3),
    )
    assert reminders.send_streak_at_risk_reminders(now) == 1
    note = Notification.objects.get()
    assert note.user_id == ny.id and note.type == "streak_at_risk"
    assert note.title == "Your 4-day streak is at risk"
    assert note.data["date"] == "2026-03-09"
    assert reminders.send_streak_at_risk_reminders(now + timedelta(minutes=20)) == 0  # once per evening
    assert Notification.objects.count() == 1


def test_streak_job_query_count_does_not_grow_with_users(make_user, django_assert_max_num_queries, celery_eager):
    from notifications import services

    now = datetime(2026, 3, 10, 0, 30, tzinfo=UTC)
    yesterday = date(2026, 3, 8)
    users = [make_user(timezone="America/New_York") for _ in range(6)]
    for u in users:
        services.update_settings(u, email_enabled=False)
        _profile(u, daily_current=2, daily_longest=2, daily_last_date=yesterday, daily_covered_through=yesterday)
    # per reminder: settings (1), dedupe check (1), savepoint + insert (3); plus the zone and profile queries
    with django_assert_max_num_queries(2 + 6 * 5 + 2):
        assert reminders.send_streak_at_risk_reminders(now) == 6


# ------------------------------------------------------------------ export
def test_export_section(user):
    from deepiri import exports

    Notification.objects.create(user=user, type="system", title="Hi")
    data = exports.export_user(user)["notifications"]
    assert [n["title"] for n in data["notifications"]] == ["Hi"]
    assert data["settings"]["in_app"] is True


# ------------------------------------------------------------------ deepiri.testing.channels
def test_group_listener_sees_pushes_with_any_layer(user, django_capture_on_commit_callbacks):
    from deepiri.testing.channels import GroupListener
    from notifications import services

    with GroupListener(publisher.user_group(user.id)) as listener:
        with django_capture_on_commit_callbacks(execute=True):
            services.notify(user, "system", "One")
            services.notify(user, "system", "Two")
        events = listener.events()
        assert [e["notification"]["title"] for e in events] == ["One", "Two"]
        assert events[0]["id"] < events[1]["id"]
        assert listener.events(timeout=0.3) == []
