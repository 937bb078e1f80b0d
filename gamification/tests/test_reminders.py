"""The streak-at-risk reminder (gamification.reminders): once, in the user's local evening."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from devtools.testing.celery import eager_celery  # noqa: F401 - autouse: email jobs run inline
from gamification import reminders
from notifications.models import Notification

pytestmark = pytest.mark.django_db


def _profile(user, **fields):
    from gamification.models import GamificationProfile

    return GamificationProfile.objects.create(user=user, **fields)


def test_streak_at_risk_in_the_users_local_evening(make_user):
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


def test_streak_job_query_count_does_not_grow_with_users(make_user, django_assert_max_num_queries):
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
