"""Streaks through the service, in the user's time zone: near midnight at UTC+14 and UTC-12,
across a DST change and the 2026-W53 -> 2027-W01 rollover; freezes; lazy refresh and beat job."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from gamification import services
from gamification.models import GamificationProfile
from kernel import events

pytestmark = pytest.mark.django_db


def at(*args):
    return datetime(*args, tzinfo=UTC)


def complete(user, task_stub, when, **kw):
    """Complete a task at `when`, with the clock at that instant."""
    with time_machine.travel(when, tick=False):
        return services.record_task_completion(user, task_stub(**kw), completed_at=when)


def profile(user):
    return GamificationProfile.objects.get(user=user)


def test_utc_plus_14_near_midnight_counts_two_local_days(make_user, task_stub):
    user = make_user(timezone="Pacific/Kiritimati")
    # 09:30 UTC = 23:30 local on Jun 1; 10:30 UTC = 00:30 local on Jun 2
    complete(user, task_stub, at(2026, 6, 1, 9, 30))
    effects = complete(user, task_stub, at(2026, 6, 1, 10, 30))
    assert effects.streak["daily"] == 2
    p = profile(user)
    assert (p.daily_current, p.daily_last_date.isoformat()) == (2, "2026-06-02")


def test_utc_minus_12_near_midnight_is_still_the_same_local_day(make_user, task_stub):
    user = make_user(timezone="Etc/GMT+12")
    # 11:00 UTC Jun 2 = 23:00 local Jun 1; 11:30 UTC Jun 1 = 23:30 local May 31
    complete(user, task_stub, at(2026, 6, 1, 11, 30))
    effects = complete(user, task_stub, at(2026, 6, 2, 11, 0))
    assert effects.streak["daily"] == 2
    assert profile(user).daily_last_date.isoformat() == "2026-06-01"
    # a UTC user completing at the same instants gets the same day twice
    utc_user = make_user(timezone="UTC")
    complete(utc_user, task_stub, at(2026, 6, 1, 11, 30))
    complete(utc_user, task_stub, at(2026, 6, 1, 23, 59))
    assert profile(utc_user).daily_current == 1


def test_dst_change_does_not_break_or_double_count(make_user, task_stub):
    user = make_user(timezone="America/New_York")
    # Mar 7 23:30 EST, Mar 8 23:30 EDT (the 23-hour day), Mar 9 00:10 EDT
    for when in (at(2026, 3, 8, 4, 30), at(2026, 3, 9, 3, 30), at(2026, 3, 9, 4, 10)):
        effects = complete(user, task_stub, when)
    assert effects.streak["daily"] == 3
    assert profile(user).daily_last_date.isoformat() == "2026-03-09"


def test_weekly_streak_rolls_over_2026_w53_to_2027_w01(make_user, task_stub):
    user = make_user(timezone="UTC")
    for when in (at(2026, 12, 23, 12), at(2026, 12, 31, 12), at(2027, 1, 4, 12)):
        effects = complete(user, task_stub, when)
    p = profile(user)
    assert effects.streak["weekly"] == 3
    assert (p.weekly_current, p.weekly_last_week) == (3, "2027-W01")


def test_freeze_earned_after_7_days_is_spent_on_a_missed_day(user, task_stub):
    start = at(2026, 4, 1, 12)
    for day in range(7):
        complete(user, task_stub, start + timedelta(days=day))
    assert (profile(user).daily_current, profile(user).freezes) == (7, 1)
    with events.capture() as seen:
        effects = complete(user, task_stub, start + timedelta(days=8))  # day 7 missed
    assert effects.streak["daily"] == 8
    assert profile(user).freezes == 0
    changed = [e for e in seen if e.name == "streak.changed"]
    assert changed and changed[0].daily["current"] == 8 and changed[0].previous["daily"] == 7


def test_catch_up_spends_freezes_then_breaks_the_streak(user, task_stub):
    start = at(2026, 4, 1, 12)
    for day in range(7):
        complete(user, task_stub, start + timedelta(days=day))
    services.catch_up_streaks(user, now=start + timedelta(days=8))  # day 7 missed, frozen
    p = profile(user)
    assert (p.daily_current, p.freezes, p.daily_covered_through.isoformat()) == (7, 0, "2026-04-08")
    with events.capture() as seen:
        services.catch_up_streaks(user, now=start + timedelta(days=9))  # day 8 missed, nothing left
    assert (profile(user).daily_current, profile(user).daily_longest) == (0, 7)
    assert [e.name for e in seen] == ["streak.changed"]
    with events.capture() as seen:  # nothing more to do: no write, no event
        services.catch_up_streaks(user, now=start + timedelta(days=9))
    assert seen == []


def test_beat_job_refreshes_everyone_in_their_own_time_zone(make_user, task_stub):
    east = make_user(timezone="Pacific/Kiritimati")
    west = make_user(timezone="Etc/GMT+12")
    complete(east, task_stub, at(2026, 6, 1, 0, 0))  # Jun 1 14:00 local
    complete(west, task_stub, at(2026, 6, 1, 13, 0))  # Jun 1 01:00 local
    # Jun 2 12:00 UTC: east is on Jun 3 (Jun 2 missed: broken), west on Jun 2 (alive)
    assert services.catch_up_all_streaks(now=at(2026, 6, 3, 0, 0) - timedelta(hours=12)) == 1
    assert profile(east).daily_current == 0
    assert profile(west).daily_current == 1


def test_backdated_completion_refolds_the_streak(user, task_stub):
    complete(user, task_stub, at(2026, 5, 1, 12))
    complete(user, task_stub, at(2026, 5, 3, 12))
    assert profile(user).daily_current == 1
    with time_machine.travel(at(2026, 5, 3, 18), tick=False):  # an import, completed earlier
        effects = services.record_task_completion(user, task_stub(), completed_at=at(2026, 5, 2, 12))
    assert effects.streak["daily"] == 3
    assert profile(user).daily_longest == 3


def test_streak_multiplier_shows_in_the_breakdown(user, task_stub):
    start = at(2026, 4, 1, 12)
    complete(user, task_stub, start)
    effects = complete(user, task_stub, start + timedelta(days=1), priority="high")
    assert list(effects.breakdown[:2]) == [{"reason": "priority:high", "amount": 150}, {"reason": "streak:2d", "amount": 7}]


def test_beat_task_is_scheduled_and_runs(user, task_stub, settings):
    from deepiri.celery import app
    from gamification.tasks import catch_up_all_streaks

    assert settings.CELERY_BEAT_SCHEDULE["gamification-refresh-streaks"]["task"] == "gamification.refresh_streaks"
    assert app.tasks["gamification.refresh_streaks"].name == catch_up_all_streaks.name
    complete(user, task_stub, at(2026, 4, 1, 12))
    with time_machine.travel(at(2026, 4, 5, 12), tick=False):
        result = catch_up_all_streaks.apply()  # what the worker runs for the beat entry
    assert result.get() == 1
    assert profile(user).daily_current == 0


# ---------------------------------------------------------------- late completions (a late sync)
def test_completions_synced_late_build_the_streak_the_rebuild_computes(make_user, task_stub):
    """An upstream tracker syncs eight consecutive days of completions, closed a month ago:
    the streak they form counts, as `rebuild_gamification` would count it."""
    user = make_user(timezone="UTC")
    now = at(2026, 3, 31, 12)
    with time_machine.travel(now, tick=False):
        services.record_task_completion(user, task_stub(), completed_at=at(2026, 2, 20, 9))
        for day in range(1, 9):  # 1..8 March, arriving one by one, today
            services.record_task_completion(user, task_stub(), completed_at=at(2026, 3, day, 9))
        p = profile(user)
        assert p.daily_longest == 8
        assert p.daily_current == 0  # long broken by today
        assert services.rebuild_user(user, write=False) == []


@hyp_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ops=st.lists(
        st.one_of(
            st.tuples(st.just("complete"), st.integers(0, 30), st.integers(0, 23)),  # days and hours ago
            st.tuples(st.just("reopen"), st.integers(0, 40)),  # which completed task
        ),
        min_size=1,
        max_size=14,
    ),
    tz=st.sampled_from(["UTC", "Pacific/Kiritimati", "America/Los_Angeles"]),
)
@example(ops=[("complete", 20, 0), ("complete", 19, 0)], tz="UTC")  # two late days in a row
@example(ops=[("complete", 3, 0), ("complete", 9, 0), ("complete", 8, 0), ("reopen", 0)], tz="UTC")
def test_live_streaks_equal_the_rebuild_for_any_order_and_dates(make_user, task_stub, ops, tz):
    """Property: completions in any order and at any past date, and reopens, leave the stored
    streaks equal to what the rebuild computes from the recorded days."""
    from gamification import rules
    from gamification.models import Activity

    now = at(2026, 11, 1, 6)  # a DST change in Los Angeles lies inside the window
    user = make_user(timezone=tz)
    done = []
    with time_machine.travel(now, tick=False):
        for op in ops:
            if op[0] == "complete":
                task = task_stub()
                services.record_task_completion(user, task, completed_at=now - timedelta(days=op[1], hours=op[2]))
                done.append(task)
            elif done:
                services.record_task_reopen(user, done.pop(op[1] % len(done)))
        p = services.get_or_create_profile(user)
        days = Activity.objects.filter(user=user, kind="task.completed", reversed=False).values_list("local_date", flat=True)
        assert (p.daily, p.weekly) == rules.streaks_from_days(days, now.astimezone(user.tzinfo).date())
        assert services.rebuild_user(user, write=False) == []
