"""A GET never writes: the profile and the badges show the streak as it stands today (broken when
its day passed) without storing it, taking a lock, or emitting anything; the stored state catches
up on the next award or in the hourly job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import services as account_services
from gamification import services
from gamification.models import GamificationProfile
from kernel import events

pytestmark = pytest.mark.django_db

READS = ("/api/gamification/profile", "/api/gamification/badges", "/api/gamification/points")


def _writes(queries) -> list[str]:
    return [
        q["sql"]
        for q in queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")) or "FOR UPDATE" in q["sql"].upper()
    ]


def test_reading_a_stale_streak_writes_nothing(user, client_factory, task_stub, commit):
    day1 = datetime(2026, 8, 10, 12, tzinfo=UTC)
    with time_machine.travel(day1, tick=False), commit():
        services.record_task_completion(user, task_stub(), completed_at=day1, actual_duration=30, efficiency=80)
    stored = GamificationProfile.objects.get(user=user)
    assert stored.daily_current == 1

    with time_machine.travel(day1 + timedelta(days=3), tick=False):  # two days missed: the streak is broken
        client = client_factory(user)
        with CaptureQueriesContext(connection) as queries, events.capture() as seen:
            answers = {path: client.get(path) for path in READS}
    assert {path: r.status_code for path, r in answers.items()} == dict.fromkeys(READS, 200)
    assert answers["/api/gamification/profile"].json()["data"]["streaks"]["daily"]["current"] == 0  # shown as today
    assert _writes(queries.captured_queries) == []
    assert seen == []
    after = GamificationProfile.objects.get(user=user)
    assert (after.daily_current, after.updated_at) == (1, stored.updated_at)  # stored as it was

    # where time passes, the stored state catches up
    services.catch_up_all_streaks(now=day1 + timedelta(days=3))
    assert GamificationProfile.objects.get(user=user).daily_current == 0


def test_a_user_without_a_profile_reads_the_starting_values_without_creating_one(user, client_factory):
    GamificationProfile.objects.filter(user=user).delete()
    client = client_factory(user)
    with CaptureQueriesContext(connection) as queries:
        answers = {path: client.get(path) for path in READS}
    assert {path: r.status_code for path, r in answers.items()} == dict.fromkeys(READS, 200)
    data = answers["/api/gamification/profile"].json()["data"]
    assert (data["points"], data["level"], data["streaks"]["daily"]["current"]) == (0, 1, 0)
    assert _writes(queries.captured_queries) == []
    assert not GamificationProfile.objects.filter(user=user).exists()


def test_signing_up_makes_the_profile(commit):
    with commit():
        user = account_services.register_user(name="New Nia", email="nia@example.com", password="a-Long-pass-42!")
    assert GamificationProfile.objects.filter(user=user).exists()
