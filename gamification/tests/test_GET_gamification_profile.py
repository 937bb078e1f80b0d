"""GET /api/gamification/profile (what the original dashboard reads)"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from gamification import services

pytestmark = pytest.mark.django_db


def test_shape_for_a_new_user(auth_client):
    data = auth_client.get("/api/gamification/profile").json()["data"]
    assert data["points"] == 0 and data["level"] == 1 and data["xpToNextLevel"] == 1000 and data["rank"] is None
    assert data["streaks"] == {
        "daily": {"current": 0, "longest": 0, "lastDate": None},
        "weekly": {"current": 0, "longest": 0, "lastWeek": None},
        "freezes": 0,
    }
    assert data["stats"] == {"tasksCompleted": 0, "challengesCompleted": 0, "totalTimeSpent": 0, "averageEfficiency": 0.0}
    assert data["badges"] == [] and data["achievements"] == []
    assert data["preferences"] == {"showLeaderboard": True, "enableNotifications": True, "challengeDifficulty": "adaptive"}


def test_streak_is_never_stale_on_read(user, client_factory, task_stub, commit):
    day1 = datetime(2026, 8, 10, 12, tzinfo=UTC)
    with time_machine.travel(day1, tick=False), commit():
        services.record_task_completion(user, task_stub(), completed_at=day1, actual_duration=30, efficiency=80)
    with time_machine.travel(day1 + timedelta(days=1), tick=False):
        data = client_factory(user).get("/api/gamification/profile").json()["data"]
        assert data["streaks"]["daily"] == {"current": 1, "longest": 1, "lastDate": "2026-08-10"}
        assert data["rank"] == 1
        assert data["stats"]["totalTimeSpent"] == 30 and data["stats"]["averageEfficiency"] == 80.0
        assert [a["achievementId"] for a in data["achievements"]] == ["first-steps"]
    with time_machine.travel(day1 + timedelta(days=3), tick=False):  # tokens are issued in-clock
        data = client_factory(user).get("/api/gamification/profile").json()["data"]
    assert data["streaks"]["daily"]["current"] == 0 and data["streaks"]["daily"]["longest"] == 1
