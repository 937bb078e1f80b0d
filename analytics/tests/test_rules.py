"""analytics.rules: pure functions, tested by table."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from analytics import rules

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("period", "tz", "now", "expected"),
    [
        ("day", "UTC", NOW, ("2026-03-31", "2026-03-31")),
        ("week", "UTC", NOW, ("2026-03-25", "2026-03-31")),
        ("month", "UTC", NOW, ("2026-03-01", "2026-03-31")),  # Feb has no 31st: clamped to the 28th
        ("month", "UTC", datetime(2026, 1, 15, tzinfo=UTC), ("2025-12-16", "2026-01-15")),
        # 12:00Z is already 02:00 on April 1st at UTC+14, and still March 31st at UTC-12
        ("day", "Pacific/Kiritimati", NOW, ("2026-04-01", "2026-04-01")),
        ("day", "Etc/GMT+12", NOW, ("2026-03-31", "2026-03-31")),
    ],
)
def test_period_range(period, tz, now, expected):
    assert rules.period_range(period, ZoneInfo(tz), now) == expected


@pytest.mark.parametrize(
    ("days", "tz", "expected"),
    [
        (1, "UTC", ("2026-03-31", "2026-03-31")),
        (7, "UTC", ("2026-03-25", "2026-03-31")),
        (365, "Pacific/Kiritimati", ("2025-04-02", "2026-04-01")),
    ],
)
def test_days_range(days, tz, expected):
    assert rules.days_range(days, ZoneInfo(tz), NOW) == expected


@pytest.mark.parametrize(
    ("instant", "tz", "expected"),
    [
        (
            datetime(2026, 3, 10, 10, 30, tzinfo=UTC),
            "Pacific/Kiritimati",
            {"day": "2026-03-11", "hour": 0, "weekday": 2},
        ),
        (datetime(2026, 3, 10, 10, 30, tzinfo=UTC), "Etc/GMT+12", {"day": "2026-03-09", "hour": 22, "weekday": 0}),
        (datetime(2026, 3, 29, 0, 30, tzinfo=UTC), "Europe/Paris", {"day": "2026-03-29", "hour": 1, "weekday": 6}),
        (datetime(2026, 3, 29, 1, 30, tzinfo=UTC), "Europe/Paris", {"day": "2026-03-29", "hour": 3, "weekday": 6}),
    ],
)
def test_local_fields(instant, tz, expected):
    assert rules.local_fields(instant, ZoneInfo(tz)) == expected


def test_local_midnight_and_week():
    assert rules.local_midnight(date(2026, 3, 11), ZoneInfo("Pacific/Kiritimati")) == datetime(
        2026, 3, 10, 10, 0, tzinfo=UTC
    )
    assert rules.iso_week(date(2026, 1, 1)) == "2026-W01"
    assert rules.iso_week(date(2027, 1, 1)) == "2026-W53"


def test_unknown_zone_falls_back_to_utc():
    assert rules.zone("Not/AZone").key == "UTC"
    assert rules.zone(None).key == "UTC"


@pytest.mark.parametrize(
    ("hours", "expected"),
    [({}, None), ({"9": 0}, None), ({"9": 2, "14": 3}, 14), ({"14": 3, "9": 3}, 9), ({"23": 1, "0": 1}, 0)],
)
def test_peak_hour(hours, expected):
    assert rules.peak_hour(hours) == expected


def test_a_reopen_is_the_exact_negation_of_its_completion():
    completion = {
        "type": "task.completed",
        "day": "2026-03-10",
        "hour": 23,
        "data": {"task_type": "google.docs", "actual_duration": 44.6, "efficiency": 70.0},
    }
    day, delta = rules.rollup_delta(completion)
    assert delta == {
        "tasks_completed": 1,
        "tasks_by_type.google_docs": 1,
        "hours.23": 1,
        "time_spent": 45,
        "task_minutes": 45,
        "timed_tasks": 1,
        "efficiency_sum": 70.0,
        "efficiency_count": 1,
    }
    reopen = {
        "type": "task.reopened",
        "day": "2026-03-11",
        "hour": 8,
        "data": {"reverses": {"day": "2026-03-10", "hour": 23, "data": completion["data"]}},
    }
    reverse_day, reverse = rules.rollup_delta(reopen)
    assert reverse_day == day == "2026-03-10"
    assert rules.add_delta(rules.add_delta(rules.zero_metrics(), delta), reverse)["tasks_completed"] == 0
    # a reopen whose completion was never recorded reverses nothing
    assert rules.rollup_delta({**reopen, "data": {"reverses": {}}}) == ("2026-03-11", {})


@pytest.mark.parametrize(
    ("args", "kind"),
    [
        ((90 * 3, 3, 50 * 3, 3), "up"),
        ((50 * 3, 3, 90 * 3, 3), "down"),
        ((60 * 3, 3, 51 * 3, 3), None),  # a change under EFFICIENCY_MIN_CHANGE
        ((90 * 2, 2, 50 * 3, 3), None),  # too few samples
    ],
)
def test_efficiency_trend_thresholds(args, kind):
    insight = rules.efficiency_trend(*args)
    if kind is None:
        assert insight is None
    else:
        assert insight["type"] == "efficiency_trend"
        assert insight["priority"] == ("low" if kind == "up" else "high")


@pytest.mark.parametrize(
    ("counts", "start"),
    [({9: 5, 10: 1, 15: 4}, 9), (dict.fromkeys(range(24), 1), None), ({9: 3, 10: 3}, None), ({23: 4, 0: 4, 12: 3}, 23)],
)
def test_peak_hours_thresholds(counts, start):
    insight = rules.peak_hours(counts)
    assert (insight["data"]["startHour"] if insight else None) == start


@pytest.mark.parametrize(
    ("counts", "kind"),
    [({"code": 5, "study": 5}, "code"), ({"code": 4, "study": 3, "admin": 3}, None), ({"code": 9}, None)],
)
def test_task_type_preference_thresholds(counts, kind):
    insight = rules.task_type_preference(counts)
    assert (insight["data"]["type"] if insight else None) == kind


@pytest.mark.parametrize(
    ("total", "count", "suggested"),
    [(85 * 3, 3, "harder"), (50 * 3, 3, "easier"), (70 * 3, 3, None), (100 * 2, 2, None)],
)
def test_challenge_performance_thresholds(total, count, suggested):
    insight = rules.challenge_performance(total, count)
    assert (insight["data"]["suggestedDifficulty"] if insight else None) == suggested


@pytest.mark.parametrize(
    ("active", "expected"),
    [
        ({"2026-03-30", "2026-03-29"}, {"streak": 2}),  # nothing yet today: the run is at risk
        ({"2026-03-30"}, {"activeDays": 1}),  # a run of one is not a streak, but the week is sparse
        ({"2026-03-31", "2026-03-30", "2026-03-29"}, {"activeDays": 3}),  # done today; 3 of 7 is sparse
        ({f"2026-03-{d}" for d in range(25, 32)}, None),  # every day: nothing to suggest
        (set(), None),
    ],
)
def test_streak_suggestion(active, expected):
    insight = rules.streak_suggestion(active, date(2026, 3, 31))
    assert (insight["data"] if insight else None) == expected


@pytest.mark.parametrize(
    ("minutes", "count", "heavy", "expected"),
    [(90 * 3, 3, 0, "long"), (30 * 3, 3, 3, "heavy"), (30 * 3, 3, 2, None), (200 * 2, 2, 5, None)],
)
def test_break_timing(minutes, count, heavy, expected):
    insight = rules.break_timing(minutes, count, heavy)
    if expected is None:
        assert insight is None
    elif expected == "long":
        assert insight["data"]["averageTaskMinutes"] == 90.0
    else:
        assert insight["data"]["heavyDays"] == 3
