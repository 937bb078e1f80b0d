"""The read pipelines (selectors) and insights, on both MongoDB engines.

Users here are real accounts.User rows; events are folded through services.apply_record, the
same path the domain-event subscribers use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from analytics import insights, rules, selectors, services

UTC = UTC
NOW = datetime(2026, 3, 18, 12, 0, tzinfo=UTC)  # a Wednesday


def record(user, kind, when, n=0, **data):
    return services.make_record(
        kind,
        user.id,
        ZoneInfo(user.timezone),
        when,
        event_id=f"{kind}:{user.id}:{n}:{services.stamp(when)}",
        subject_id=f"s{n}",
        data=data,
    )


def complete(user, when, n=0, task_type="code", duration=30, efficiency=80.0):
    services.apply_record(
        record(
            user,
            "task.completed",
            when,
            n,
            task_id=f"t{n}",
            task_type=task_type,
            actual_duration=duration,
            efficiency=efficiency,
        )
    )


def challenge(user, when, n=0, challenge_type="quiz", score=90.0, minutes=5):
    services.apply_record(
        record(
            user,
            "challenge.completed",
            when,
            n,
            challenge_id=f"c{n}",
            challenge_type=challenge_type,
            score=score,
            completion_minutes=minutes,
        )
    )


def points(user, when, n, amount):
    services.apply_record(record(user, "points.awarded", when, n, points=amount, xp=amount))


@pytest.fixture
def alice(make_user):
    return make_user(email="alice@example.com", timezone="Europe/Paris")


@pytest.fixture
def bob(make_user):
    return make_user(email="bob@example.com", timezone="UTC")


def test_daily_rows_newest_first_with_derived_metrics(mongo, alice):
    complete(alice, NOW - timedelta(days=1), 1, "code", 30, 70.0)
    complete(alice, NOW - timedelta(days=1), 2, "study", 60, 90.0)
    challenge(alice, NOW, 3)
    points(alice, NOW, 4, 150)
    rows = selectors.daily_rows(alice, 7, NOW)
    assert [r["day"] for r in rows] == ["2026-03-18", "2026-03-17"]
    today, yesterday = rows
    assert today["metrics"]["challenges_completed"] == 1
    assert today["metrics"]["points_earned"] == 150
    assert today["metrics"]["challenges_by_type"] == {"quiz": 1}
    assert today["metrics"]["time_spent"] == 5
    assert today["metrics"]["peak_productivity_hour"] == 13  # 12:00Z is 13:00 in Paris
    assert yesterday["metrics"]["tasks_completed"] == 2
    assert yesterday["metrics"]["average_efficiency"] == 80.0
    assert yesterday["metrics"]["tasks_by_type"] == {"code": 1, "study": 1}
    assert yesterday["date"] == "2026-03-16T23:00:00Z"  # local midnight (+01:00), in UTC
    assert yesterday["timezone"] == "Europe/Paris"


def test_days_bounds_are_local_and_inclusive(mongo, alice):
    complete(alice, NOW - timedelta(days=2), 1)  # 2026-03-16 local
    assert [r["day"] for r in selectors.daily_rows(alice, 3, NOW)] == ["2026-03-16"]
    assert selectors.daily_rows(alice, 2, NOW) == []


def test_an_empty_period_is_zero_not_an_error(mongo, alice):
    assert selectors.daily_rows(alice, 30, NOW) == []
    stats = selectors.stats(alice, "month", NOW)
    assert stats["total_tasks_completed"] == 0
    assert stats["average_efficiency"] is None
    assert stats["tasks_by_type"] == {}
    assert stats["challenges_by_type"] == {}
    perf = selectors.performance(alice, 90, NOW)
    assert perf["heatmap"]["total"] == 0
    assert perf["peak_hour"] is None
    assert perf["trends"]["weekly"] == []
    assert perf["trends"]["change"]["tasks_completed"] is None


def test_stats_periods(mongo, alice):
    complete(alice, NOW, 1, "code", 20, 60.0)
    complete(alice, NOW - timedelta(days=3), 2, "code", 40, 100.0)
    complete(alice, NOW - timedelta(days=20), 3, "study", 60, 50.0)
    challenge(alice, NOW - timedelta(days=40), 4)  # before the month
    day, week, month = (selectors.stats(alice, p, NOW) for p in ("day", "week", "month"))
    assert (day["total_tasks_completed"], week["total_tasks_completed"], month["total_tasks_completed"]) == (1, 2, 3)
    assert week["average_efficiency"] == 80.0
    assert week["total_time_spent"] == 60
    assert month["tasks_by_type"] == {"code": 2, "study": 1}
    assert month["total_challenges_completed"] == 0
    assert month["start"] == "2026-02-19"


def test_another_users_data_is_never_visible(mongo, alice, bob):
    complete(bob, NOW, 1, "research")
    challenge(bob, NOW, 2)
    assert selectors.daily_rows(alice, 30, NOW) == []
    assert selectors.stats(alice, "week", NOW)["total_tasks_completed"] == 0
    assert selectors.performance(alice, 30, NOW)["heatmap"]["total"] == 0
    assert insights.compute(alice, NOW) == []
    assert selectors.stats(bob, "week", NOW)["tasks_by_type"] == {"research": 1}


def test_performance_heatmap_and_trends(mongo, alice):
    # Paris is UTC+1 in March (before the DST switch on the 29th)
    complete(alice, datetime(2026, 3, 16, 8, 15, tzinfo=UTC), 1)  # Monday 09:15 local
    complete(alice, datetime(2026, 3, 16, 8, 45, tzinfo=UTC), 2)  # Monday 09:45 local
    challenge(alice, datetime(2026, 3, 14, 19, 0, tzinfo=UTC), 3)  # Saturday 20:00 local
    complete(alice, datetime(2026, 3, 6, 10, 0, tzinfo=UTC), 4, efficiency=40.0)  # Friday, previous window
    perf = selectors.performance(alice, 30, NOW)
    values = perf["heatmap"]["values"]
    assert values[0][9] == 2
    assert values[5][20] == 1
    assert values[4][11] == 1
    assert perf["heatmap"]["total"] == 4
    assert perf["peak_hour"] == 9
    assert perf["best_weekday"] == "Mon"
    weeks = {w["week"]: w for w in perf["trends"]["weekly"]}
    assert weeks["2026-W12"]["tasks_completed"] == 2
    assert weeks["2026-W11"]["challenges_completed"] == 1
    assert perf["trends"]["recent"]["tasks_completed"] == 2
    assert perf["trends"]["previous"]["tasks_completed"] == 1
    assert perf["trends"]["change"]["tasks_completed"] == 100.0
    assert perf["trends"]["change"]["average_efficiency"] == 100.0  # 80 vs 40


def test_insights_follow_the_documented_thresholds(mongo, alice):
    # 12 completions over the last week, mostly 'code', mostly at 09:xx local, efficiency 90
    n = 0
    for day in range(6):
        for k in range(2):
            n += 1
            complete(alice, NOW - timedelta(days=day + 1) - timedelta(hours=3, minutes=k), n, "code", 100, 90.0)
    # the week before: 3 completions at efficiency 50
    for day in range(3):
        n += 1
        complete(alice, NOW - timedelta(days=8 + day), n, "study", 100, 50.0)
    for k in range(3):
        n += 1
        challenge(alice, NOW - timedelta(days=k + 1), n, score=95.0)
    found = {i["type"]: i for i in insights.compute(alice, NOW)}
    assert found["efficiency_trend"]["data"] == {"recent": 90.0, "previous": 50.0, "change": 40.0}
    assert found["peak_hours"]["data"]["startHour"] == 9
    assert found["task_type_preference"]["data"]["type"] == "code"
    assert found["challenge_performance"]["data"]["suggestedDifficulty"] == "harder"
    assert found["streak_suggestion"]["data"] == {"streak": 6}  # the 6 days before today (the 11th is a gap)
    assert found["break_timing"]["data"]["averageTaskMinutes"] >= rules.BREAK_LONG_TASK_MINUTES
    assert insights.compute(alice, NOW)[0]["priority"] == "high"


def test_insights_are_stored_on_todays_row(mongo, alice):
    for n in range(3):
        complete(alice, NOW - timedelta(days=n + 1), n)
    stored = insights.refresh(alice, NOW)
    assert [i["type"] for i in stored] == ["streak_suggestion"]
    today = selectors.daily_rows(alice, 1, NOW)[0]
    assert today["day"] == "2026-03-18"
    assert today["insights"][0]["type"] == "streak_suggestion"
    assert insights.refresh(alice, NOW) == stored  # recomputing replaces, never appends
    assert len(selectors.daily_rows(alice, 1, NOW)[0]["insights"]) == 1
