"""The rules, by table. Pure functions: no database, no clock."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from gamification import rules
from gamification.rules import DailyStreak, WeeklyStreak


@pytest.mark.parametrize(
    ("priority", "efficiency", "early", "streak", "points", "breakdown"),
    [
        ("low", None, False, 1, 50, [("priority:low", 50)]),
        ("medium", None, False, 1, 100, [("priority:medium", 100)]),
        ("high", None, False, 1, 150, [("priority:high", 150)]),
        ("urgent", None, False, 1, 200, [("priority:urgent", 200)]),
        ("bogus", None, False, 1, 100, [("priority:medium", 100)]),
        ("medium", 89.99, False, 1, 110, [("priority:medium", 100), ("efficiency>=75", 10)]),
        ("medium", 90, False, 1, 125, [("priority:medium", 100), ("efficiency>=90", 25)]),
        ("medium", 74.9, False, 1, 100, [("priority:medium", 100)]),
        ("medium", None, True, 1, 125, [("priority:medium", 100), ("early", 25)]),
        ("medium", None, False, 2, 105, [("priority:medium", 100), ("streak:2d", 5)]),
        # 150 x 1.3 = 195
        ("medium", 95, True, 7, 195, [("priority:medium", 100), ("efficiency>=90", 25), ("early", 25), ("streak:7d", 45)]),
        # the multiplier stops at x1.5
        ("urgent", None, False, 11, 300, [("priority:urgent", 200), ("streak:11d", 100)]),
        ("urgent", None, False, 400, 300, [("priority:urgent", 200), ("streak:400d", 100)]),
        ("low", None, False, 0, 50, [("priority:low", 50)]),
    ],
)
def test_task_points(priority, efficiency, early, streak, points, breakdown):
    award = rules.task_points(priority, efficiency=efficiency, early=early, streak_days=streak)
    assert award.points == points
    assert award.xp == points
    assert list(award.breakdown) == breakdown
    assert sum(a for _, a in award.breakdown) == award.points


@pytest.mark.parametrize(
    ("kwargs", "points", "breakdown"),
    [
        ({"points_reward": 100}, 100, [("challenge", 100)]),
        ({"points_reward": 100, "bonus_multiplier": 1.5}, 150, [("challenge", 100), ("multiplier:x1.5", 50)]),
        # the multiplier is clamped to 1.0..3.0
        ({"points_reward": 100, "bonus_multiplier": 9}, 300, [("challenge", 100), ("multiplier:x3", 200)]),
        ({"points_reward": 100, "bonus_multiplier": 0.2}, 100, [("challenge", 100)]),
        ({"points_reward": 100, "score": 0}, 50, [("challenge", 100), ("score:0%", -50)]),
        ({"points_reward": 100, "score": 80}, 90, [("challenge", 100), ("score:80%", -10)]),
        ({"points_reward": 100, "accuracy": 60}, 80, [("challenge", 100), ("score:60%", -20)]),
        # the score wins over accuracy; out-of-range values are clamped
        ({"points_reward": 100, "score": 100, "accuracy": 10}, 100, [("challenge", 100)]),
        ({"points_reward": 100, "score": 250}, 100, [("challenge", 100)]),
        ({"points_reward": 100, "hints_used": 2}, 80, [("challenge", 100), ("hints:2", -20)]),
        ({"points_reward": 100, "hints_used": 40}, 50, [("challenge", 100), ("hints:5", -50)]),
        ({"points_reward": 100, "completion_seconds": 300, "time_limit_seconds": 600}, 120,
         [("challenge", 100), ("speed:<=50%", 20)]),
        ({"points_reward": 100, "completion_seconds": 450, "time_limit_seconds": 600}, 110,
         [("challenge", 100), ("speed:<=75%", 10)]),
        ({"points_reward": 100, "completion_seconds": 451, "time_limit_seconds": 600}, 100, [("challenge", 100)]),
        ({"points_reward": 100, "completion_seconds": 10, "time_limit_seconds": 0}, 100, [("challenge", 100)]),
        (
            {"points_reward": 200, "bonus_multiplier": 2, "score": 50, "hints_used": 1,
             "completion_seconds": 60, "time_limit_seconds": 600},
            300 + 60 - 30,
            [("challenge", 200), ("multiplier:x2", 200), ("score:50%", -100), ("hints:1", -30), ("speed:<=50%", 60)],
        ),
        ({"points_reward": 0}, 0, [("challenge", 0)]),
        ({"points_reward": -5}, 0, [("challenge", 0)]),
    ],
)
def test_challenge_points(kwargs, points, breakdown):
    award = rules.challenge_points(**kwargs)
    assert award.points == points
    assert list(award.breakdown) == breakdown
    assert sum(a for _, a in award.breakdown) == award.points


@pytest.mark.parametrize(
    ("estimated", "actual", "expected"),
    [(30, 30, 100), (30, 60, 50), (30, 15, 100), (30, None, None), (None, 30, None), (30, 0, None), (10, 30, 33.33)],
)
def test_efficiency(estimated, actual, expected):
    assert rules.efficiency(estimated, actual) == expected


@pytest.mark.parametrize(
    ("level", "need"), [(1, 1000), (2, 1500), (3, 2250), (4, 3375), (5, 5062), (6, 7593), (7, 11389)]
)
def test_xp_to_next_level_keeps_the_original_thresholds(level, need):
    assert rules.xp_to_next_level(level) == need


@pytest.mark.parametrize(
    ("total", "level", "in_level", "to_next"),
    [
        (0, 1, 0, 1000),
        (999, 1, 999, 1000),
        (1000, 2, 0, 1500),
        (2499, 2, 1499, 1500),
        (2500, 3, 0, 2250),
        # one award crossing several levels at once
        (1000 + 1500 + 2250 + 3375 + 7, 5, 7, 5062),
        (-50, 1, 0, 1000),
    ],
)
def test_level_for_xp(total, level, in_level, to_next):
    assert rules.level_for_xp(total) == rules.LevelState(level, in_level, to_next)


def test_level_change_up_several_and_down():
    assert rules.level_change(900, 9000) == (1, 5)
    assert rules.level_change(9000, 900) == (5, 1)
    assert rules.level_change(10, 20) is None


def test_xp_to_next_level_rejects_level_zero():
    with pytest.raises(ValueError, match="level starts at 1"):
        rules.xp_to_next_level(0)


D = date(2026, 3, 1)


def d(n):
    return D + timedelta(days=n)


@pytest.mark.parametrize(
    ("days", "today", "current", "longest", "freezes"),
    [
        ([], d(0), 0, 0, 0),
        ([0], d(0), 1, 1, 0),
        ([0], d(1), 1, 1, 0),  # today is not missed yet
        ([0], d(2), 0, 1, 0),  # yesterday was missed, no freeze: broken
        ([0, 1, 2], d(2), 3, 3, 0),
        ([0, 0, 0], d(0), 1, 1, 0),
        ([0, 2], d(2), 1, 1, 0),
        (range(7), d(6), 7, 7, 1),  # a freeze per 7 consecutive days
        (range(14), d(13), 14, 14, 2),
        (range(21), d(20), 21, 21, 2),  # at most 2 held
        ([*range(7), 8], d(8), 8, 8, 0),  # day 7 missed: the freeze is spent, the streak holds
        ([*range(7), 9], d(9), 1, 7, 0),  # two missed days, one freeze: broken (the freeze is gone)
        ([*range(14), 16], d(16), 15, 15, 0),  # two missed days, two freezes
        (range(7), d(8), 7, 7, 0),  # read lazily: the freeze covers yesterday
        (range(7), d(9), 0, 7, 0),  # two days missed with one freeze: broken on read
    ],
)
def test_daily_streak_fold(days, today, current, longest, freezes):
    streak = rules.daily_from_days([d(x) for x in days], today)
    assert (streak.current, streak.longest, streak.freezes) == (current, longest, freezes)


def test_daily_add_matches_the_fold_and_refuses_backdated_days():
    streak = DailyStreak()
    for x in [0, 1, 2, 4]:
        streak = rules.daily_add(streak, d(x))
    assert streak == rules.daily_from_days([d(0), d(1), d(2), d(4)])
    assert rules.daily_add(streak, d(3)) is None
    assert rules.daily_add(streak, d(4)) is streak


def test_daily_add_refuses_a_backdated_frozen_day():
    streak = rules.daily_from_days([d(x) for x in range(7)])
    streak = rules.daily_as_of(streak, d(8))  # day 7 frozen
    assert streak.covered_through == d(7)
    assert rules.daily_add(streak, d(7)) is None
    # folding the back-dated day in gives the freeze back
    assert rules.daily_from_days([d(x) for x in range(8)], d(8)).freezes == 1


def test_daily_as_of_is_idempotent_and_order_independent():
    streak = rules.daily_from_days([d(x) for x in range(14)])
    once = rules.daily_as_of(streak, d(15))
    assert rules.daily_as_of(once, d(15)) == once
    assert rules.daily_add(rules.daily_as_of(streak, d(15)), d(16)) == rules.daily_add(streak, d(16))


@pytest.mark.parametrize(
    ("day", "key"),
    [
        (date(2026, 12, 31), "2026-W53"),
        (date(2027, 1, 3), "2026-W53"),
        (date(2027, 1, 4), "2027-W01"),
        (date(2025, 3, 2), "2025-W09"),
        (date(2025, 3, 3), "2025-W10"),
        (date(2024, 12, 30), "2025-W01"),
    ],
)
def test_iso_week_key(day, key):
    assert rules.iso_week_key(day) == key
    assert rules.week_monday(key) <= day


@pytest.mark.parametrize(
    ("days", "today", "current", "longest"),
    [
        ([], date(2026, 12, 28), 0, 0),
        # 2026-W52 -> 2026-W53 -> 2027-W01: consecutive across the year
        ([date(2026, 12, 21), date(2026, 12, 29), date(2027, 1, 4)], date(2027, 1, 4), 3, 3),
        # W09 -> W10 is consecutive (the original compared unpadded strings and reset here)
        ([date(2025, 2, 26), date(2025, 3, 5)], date(2025, 3, 5), 2, 2),
        # a skipped week resets (the original counted any later week as consecutive)
        ([date(2025, 2, 26), date(2025, 3, 12)], date(2025, 3, 12), 1, 1),
        ([date(2025, 2, 26), date(2025, 2, 27)], date(2025, 3, 4), 1, 1),  # last week: still alive
        ([date(2025, 2, 26)], date(2025, 3, 10), 0, 1),  # a whole week missed: 0 on read
    ],
)
def test_weekly_streak_fold(days, today, current, longest):
    streak = rules.weekly_from_days(days, today)
    assert (streak.current, streak.longest) == (current, longest)


def test_weekly_add_refuses_an_earlier_week():
    streak = rules.weekly_add(WeeklyStreak(), date(2026, 5, 20))
    assert rules.weekly_add(streak, date(2026, 5, 1)) is None
    with pytest.raises(ValueError, match="ISO week"):
        rules.week_monday("2026-7")


@pytest.mark.parametrize(
    ("instant", "zone", "day"),
    [
        # near midnight UTC, at the two ends of the clock
        (datetime(2026, 6, 1, 10, 30, tzinfo=UTC), "Pacific/Kiritimati", date(2026, 6, 2)),  # UTC+14
        (datetime(2026, 6, 1, 9, 59, tzinfo=UTC), "Pacific/Kiritimati", date(2026, 6, 1)),
        (datetime(2026, 6, 1, 11, 30, tzinfo=UTC), "Etc/GMT+12", date(2026, 5, 31)),  # UTC-12
        (datetime(2026, 6, 1, 12, 0, tzinfo=UTC), "Etc/GMT+12", date(2026, 6, 1)),
        # DST: New York springs forward on 2026-03-08; 04:30 UTC is 23:30 the day before (EST)
        (datetime(2026, 3, 8, 4, 30, tzinfo=UTC), "America/New_York", date(2026, 3, 7)),
        (datetime(2026, 3, 9, 3, 30, tzinfo=UTC), "America/New_York", date(2026, 3, 8)),  # 23:30 EDT
        (datetime(2026, 3, 9, 4, 30, tzinfo=UTC), "America/New_York", date(2026, 3, 9)),
    ],
)
def test_local_date(instant, zone, day):
    assert rules.local_date(instant, ZoneInfo(zone)) == day


def test_local_date_rejects_naive():
    with pytest.raises(ValueError, match="naive"):
        rules.local_date(datetime(2026, 1, 1), ZoneInfo("UTC"))  # noqa: DTZ001


@pytest.mark.parametrize(
    ("completed", "due", "due_only", "zone", "early"),
    [
        (datetime(2026, 1, 1, 10, tzinfo=UTC), None, False, "UTC", False),
        (datetime(2026, 1, 1, 10, tzinfo=UTC), datetime(2026, 1, 1, 10, tzinfo=UTC), False, "UTC", True),
        (datetime(2026, 1, 1, 10, 1, tzinfo=UTC), datetime(2026, 1, 1, 10, tzinfo=UTC), False, "UTC", False),
        # a date-only due (stored as the end of that day in the user's zone) counts the whole
        # local day: 23:00 in Honolulu on Jan 1 is 09:00 UTC on Jan 2
        (datetime(2026, 1, 2, 9, tzinfo=UTC), datetime(2026, 1, 2, 9, 59, 59, tzinfo=UTC), True, "Pacific/Honolulu", True),
        (datetime(2026, 1, 2, 11, tzinfo=UTC), datetime(2026, 1, 2, 9, 59, 59, tzinfo=UTC), True, "Pacific/Honolulu", False),
        # ...and a due stored at the start of that local day still counts the whole day
        (datetime(2026, 1, 2, 9, tzinfo=UTC), datetime(2026, 1, 1, 10, tzinfo=UTC), True, "Pacific/Honolulu", True),
        (datetime(2026, 1, 2, 9, tzinfo=UTC), datetime(2026, 1, 1, 10, tzinfo=UTC), False, "Pacific/Honolulu", False),
    ],
)
def test_finished_early(completed, due, due_only, zone, early):
    assert rules.finished_early(completed, due, due_date_only=due_only, tz=ZoneInfo(zone)) is early


@pytest.mark.parametrize(
    ("criteria", "errors"),
    [
        ({"type": "count", "metric": "tasks_completed", "value": 10}, {}),
        ({"type": "threshold", "metric": "daily_streak", "value": 7}, {}),
        ({"type": "event_count", "event": "task.completed", "filters": {"priority": "urgent"}, "value": 5}, {}),
        ({"type": "event_count", "event": "task.completed", "filters": {"efficiency__gte": 90}, "value": 5}, {}),
        ({"type": "event_count", "event": "challenge.completed", "filters": {"type__in": ["quiz"]}, "value": 1}, {}),
        ({"type": "event_count", "event": "integration.synced", "value": 1}, {}),
        ("nope", {"criteria": ["Must be an object."]}),
        ({"type": "custom", "value": 1}, {"type": ["Must be one of count, threshold, event_count."]}),
        ({"type": "count", "metric": "tasks_completed", "value": 0}, {"value": ["Must be a whole number of at least 1."]}),
        ({"type": "count", "metric": "tasks_completed", "value": True}, {"value": ["Must be a whole number of at least 1."]}),
        ({"type": "count", "metric": "points", "value": 1}, {"metric": [
            "Must be one of tasks_completed, challenges_completed, badges_earned, total_time_spent."]}),
        ({"type": "count", "metric": "tasks_completed", "value": 1, "extra": 1}, {"criteria": ["Unknown keys: extra."]}),
        ({"type": "event_count", "event": "task.deleted", "value": 1},
         {"event": ["Must be one of task.completed, challenge.completed, integration.synced."]}),
        ({"type": "event_count", "event": "task.completed", "filters": {"colour": "red"}, "value": 1},
         {"filters": ["colour: unknown fact for task.completed."]}),
        ({"type": "event_count", "event": "task.completed", "filters": {"priority__like": "u"}, "value": 1},
         {"filters": ["priority__like: unknown operator 'like'."]}),
        ({"type": "event_count", "event": "task.completed", "filters": {"priority__gte": "u"}, "value": 1},
         {"filters": ["priority__gte: gte needs a numeric fact."]}),
        ({"type": "event_count", "event": "task.completed", "filters": {"efficiency__gte": "90"}, "value": 1},
         {"filters": ["efficiency__gte: '90' has the wrong type."]}),
        ({"type": "event_count", "event": "task.completed", "filters": {"early": 1}, "value": 1},
         {"filters": ["early: 1 has the wrong type."]}),
        ({"type": "event_count", "event": "task.completed", "filters": {"type__in": []}, "value": 1},
         {"filters": ["type__in: must be a non-empty list."]}),
        ({"type": "event_count", "event": "task.completed", "filters": [], "value": 1}, {"filters": ["Must be an object."]}),
    ],
)
def test_validate_criteria(criteria, errors):
    assert rules.validate_criteria(criteria) == errors


@pytest.mark.parametrize(
    ("filters", "facts", "matches"),
    [
        ({}, {}, True),
        ({"priority": "urgent"}, {"priority": "urgent"}, True),
        ({"priority": "urgent"}, {"priority": "low"}, False),
        ({"efficiency__gte": 90}, {"efficiency": 90}, True),
        ({"efficiency__gte": 90}, {"efficiency": None}, False),
        ({"efficiency__gt": 90}, {"efficiency": 90}, False),
        ({"local_hour__lt": 8}, {"local_hour": 7}, True),
        ({"local_hour__lte": 8}, {"local_hour": 9}, False),
        ({"type__in": ["quiz", "puzzle"]}, {"type": "puzzle"}, True),
        ({"source__ne": "manual"}, {"source": "manual"}, False),
        ({"early": True, "priority": "high"}, {"early": True, "priority": "high"}, True),
    ],
)
def test_facts_match(filters, facts, matches):
    assert rules.facts_match(filters, facts) is matches


def test_criteria_progress_caps_at_target():
    assert rules.criteria_progress({"type": "count", "metric": "tasks_completed", "value": 10}, {"tasks_completed": 3}) == (3, 10)
    assert rules.criteria_progress({"type": "threshold", "metric": "points", "value": 10}, {"points": 30}) == (10, 10)
    assert rules.criteria_progress({"type": "event_count", "event": "task.completed", "value": 5}, {}, 2) == (2, 5)


# --- property: incremental updates with reads at arbitrary times equal the fold ----------------
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@given(st.lists(st.tuples(st.integers(0, 60), st.booleans()), max_size=40))
def test_incremental_streaks_with_lazy_reads_equal_the_fold(steps):
    daily, weekly, days = DailyStreak(), WeeklyStreak(), []
    last = 0
    for offset, read_first in steps:
        day = d(last + offset % 4)  # moves forward by 0..3 days
        last = (day - D).days
        if read_first:
            daily, weekly = rules.daily_as_of(daily, day), rules.weekly_as_of(weekly, day)
        daily, weekly = rules.daily_add(daily, day), rules.weekly_add(weekly, day)
        days.append(day)
        assert daily == rules.daily_from_days(days)
        assert weekly.current == rules.weekly_from_days(days).current
    assert daily.freezes <= rules.MAX_FREEZES and daily.current <= daily.longest


@pytest.mark.parametrize(
    ("criteria", "kind", "facts", "may"),
    [
        ({"event": "task.completed", "filters": {"priority": "urgent"}}, "challenge.completed", {"priority": "urgent"}, False),
        ({"event": "task.completed", "filters": {"priority": "urgent"}}, "task.completed", {"priority": "low"}, False),
        ({"event": "task.completed", "filters": {"priority": "urgent"}}, "task.completed", {"priority": "urgent"}, True),
        ({"event": "task.completed"}, "task.completed", {}, True),
        # a null fact is SQL's to judge: JSON null sorts below every number, so `lte` may count it
        ({"event": "task.completed", "filters": {"efficiency__lte": 50}}, "task.completed", {"efficiency": None}, True),
        ({"event": "task.completed", "filters": {"efficiency__lte": 50, "priority": "high"}}, "task.completed",
         {"efficiency": None, "priority": "low"}, False),
    ],
)
def test_may_count_is_false_only_when_the_event_surely_does_not_count(criteria, kind, facts, may):
    assert rules.may_count(criteria, kind, facts) is may
