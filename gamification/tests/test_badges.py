"""Badges: the seeded catalogue, evaluation on events, progress, revoke with reversal."""

import contextlib
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError

from devtools.testing.channels import GroupListener
from gamification import leaderboards, rules, selectors, services
from gamification.models import Badge, GamificationProfile, LedgerEntry, UserBadge
from kernel import events
from realtime import publisher

pytestmark = pytest.mark.django_db


def test_catalogue_is_seeded_with_valid_criteria_across_categories():
    badges = list(Badge.objects.all())
    assert len(badges) >= 20
    assert {b.category for b in badges} >= {
        "completion", "challenge", "streak", "milestone", "efficiency", "integration", "multiplayer",
    }
    assert {b.criteria["type"] for b in badges} == {"count", "threshold", "event_count"}
    for badge in badges:
        assert rules.validate_criteria(badge.criteria) == {}, badge.slug
        assert badge.points == rules.badge_points(badge.rarity)


def test_model_clean_rejects_bad_criteria():
    badge = Badge(slug="x", name="X", icon="x", description="x", category="special",
                  criteria={"type": "count", "metric": "nope", "value": 1})
    with pytest.raises(ValidationError) as err:
        badge.full_clean()
    assert "criteria" in err.value.message_dict


def test_first_task_awards_first_steps_through_the_ledger(user, task_stub):
    with events.capture() as seen:
        effects = services.record_task_completion(user, task_stub(), completed_at=datetime.now(UTC))
    assert [b["slug"] for b in effects.badges_awarded] == ["first-steps"]
    assert effects.points_awarded == 100 + 50
    assert {"reason": "badge:first-steps", "amount": 50} in effects.breakdown
    awarded = [e for e in seen if e.name == "badge.awarded"]
    assert [p.badge.slug for p in awarded] == ["first-steps"]
    entry = LedgerEntry.objects.get(source="badge", user=user)
    assert (entry.points, entry.idempotency_key) == (50, f"badge:{user.pk}:{awarded[0].badge.pk}")
    profile = GamificationProfile.objects.get(user=user)
    assert profile.points == 150 and [b["slug"] for b in profile.badges] == ["first-steps"]


def test_event_count_badges_with_filters(user, task_stub):
    now = datetime.now(UTC)
    for i in range(4):
        services.record_task_completion(user, task_stub(priority="urgent"), completed_at=now - timedelta(seconds=i))
    services.record_task_completion(user, task_stub(priority="low"), completed_at=now - timedelta(seconds=9))
    assert not UserBadge.objects.filter(user=user, badge__slug="firefighter").exists()
    effects = services.record_task_completion(user, task_stub(priority="urgent"), completed_at=now - timedelta(seconds=20))
    assert "firefighter" in [b["slug"] for b in effects.badges_awarded]


def test_a_completion_no_event_badge_counts_runs_no_count_query(user, task_stub):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    noon = datetime(2026, 7, 1, 12, tzinfo=UTC)
    services.record_task_completion(user, task_stub(), completed_at=noon - timedelta(hours=1), efficiency=50)
    with CaptureQueriesContext(connection) as ctx:
        services.record_task_completion(user, task_stub(), completed_at=noon, efficiency=50)
    assert not [q for q in ctx.captured_queries if "FILTER" in q["sql"]]
    with CaptureQueriesContext(connection) as ctx:  # urgent: the firefighter count moves, so it is counted
        services.record_task_completion(user, task_stub(priority="urgent"), completed_at=noon + timedelta(hours=1),
                                        efficiency=50)
    assert len([q for q in ctx.captured_queries if "FILTER" in q["sql"]]) == 1


def test_a_badge_created_after_its_events_is_awarded_by_a_full_check(user, task_stub):
    now = datetime.now(UTC)
    for i in range(2):
        services.record_task_completion(user, task_stub(priority="urgent"), completed_at=now - timedelta(seconds=i))
    badge = Badge.objects.create(slug="two-fires", name="Two Fires", icon="x", description="x", category="completion",
                                 criteria={"type": "event_count", "event": "task.completed",
                                           "filters": {"priority": "urgent"}, "value": 2})
    # a completion it does not count leaves it unchecked; the user's own check finds it
    services.record_task_completion(user, task_stub(priority="low"), completed_at=now - timedelta(seconds=5))
    assert not UserBadge.objects.filter(user=user, badge=badge).exists()
    assert [ub.badge.slug for ub in services.evaluate_badges(user)] == ["two-fires"]


def test_numeric_filters_count_in_sql(user, task_stub):
    now = datetime.now(UTC)
    for i in range(10):
        services.record_task_completion(user, task_stub(), completed_at=now - timedelta(seconds=i), efficiency=90 + (i % 2))
    assert UserBadge.objects.filter(user=user, badge__slug="efficient").exists()
    # 95+ needs 25 of them: progress shows 0 of 25
    profile = GamificationProfile.objects.get(user=user)
    badge = Badge.objects.get(slug="efficiency-expert")
    assert selectors.badge_progress(badge, profile, selectors.event_counts(user, [badge])) == (0, 25)


def test_challenge_badges_and_multiplayer(user, challenge_stub):
    effects = services.record_challenge_completion(user, challenge_stub(type="multiplayer", score=100))
    slugs = {b["slug"] for b in effects.badges_awarded}
    assert {"challenger", "perfectionist", "team-player"} <= slugs


def test_badge_points_can_unlock_a_points_badge_in_the_same_evaluation(user):
    services.award(user, points=960, xp=960, reason="seed", source="admin", idempotency_key="seed")
    assert services.evaluate_badges(user) == []
    # one task counted: first-steps pays 50, which takes the user past 1000 points
    GamificationProfile.objects.filter(user=user).update(tasks_completed=1)
    awarded = services.evaluate_badges(user)
    assert [ub.badge.slug for ub in awarded] == ["first-steps", "point-collector"]


def test_integration_sync_awards_connected_once(user, commit):
    with commit():  # the same run recorded twice (a redelivered reaction)
        services.record_integration_sync(user, run_id="run1", provider="github", tasks_created=3)
        services.record_integration_sync(user, run_id="run1", provider="github", tasks_created=3)
    assert UserBadge.objects.filter(user=user, badge__slug="connected").count() == 1
    from gamification.models import Activity

    assert Activity.objects.get(kind="integration.synced").facts == {"provider": "github", "tasks_created": 3}


def test_revoke_reverses_the_points_and_is_not_reawarded(user, staff_user, task_stub):
    services.record_task_completion(user, task_stub(), completed_at=datetime.now(UTC))
    user_badge = UserBadge.objects.get(user=user, badge__slug="first-steps")
    services.revoke_badge(user_badge, by=staff_user, reason="duplicate account")
    services.revoke_badge(user_badge, by=staff_user)  # twice: one reversal
    profile = GamificationProfile.objects.get(user=user)
    assert profile.points == 100 and profile.badges == []
    reversal = LedgerEntry.objects.get(source="reversal", user=user)
    assert reversal.points == -50 and reversal.reverses_id == user_badge.ledger_entry_id
    user_badge.refresh_from_db()
    assert user_badge.revoked_by == staff_user and user_badge.revoke_reason == "duplicate account"
    assert services.evaluate_badges(user) == []


def test_streak_badge_on_the_third_day(user, task_stub):
    start = datetime(2026, 7, 1, 12, tzinfo=UTC)
    for day in range(3):
        when = start + timedelta(days=day)
        with time_machine.travel(when, tick=False):
            effects = services.record_task_completion(user, task_stub(), completed_at=when)
    assert "on-a-roll" in [b["slug"] for b in effects.badges_awarded]


def test_inactive_badges_are_not_awarded(user, task_stub):
    Badge.objects.filter(slug="first-steps").update(active=False)
    effects = services.record_task_completion(user, task_stub(), completed_at=datetime.now(UTC))
    assert effects.badges_awarded == ()


def test_staff_grant_is_idempotent_and_respects_revocation(user, staff_user):
    badge = Badge.objects.get(slug="veteran")
    user_badge, outcome = services.grant_badge(user, badge)
    assert outcome == "awarded" and GamificationProfile.objects.get(user=user).points == badge.points
    assert services.grant_badge(user, badge)[1] == "already"
    services.revoke_badge(user_badge, by=staff_user)
    assert services.grant_badge(user, badge)[1] == "revoked"
    assert GamificationProfile.objects.get(user=user).points == 0
    assert services.rebuild_user(user, write=False) == []


def test_a_completion_with_a_badge_is_one_pipeline_and_one_update_per_period(user, task_stub, commit):
    """The task's points and the badge's land in one commit: each board's room gets one
    `leaderboard-update`, carrying the user."""
    rooms = {period: GroupListener(publisher.room_group(f"leaderboard:{period}")) for period in leaderboards.PERIODS}
    with contextlib.ExitStack() as stack:
        for listener in rooms.values():
            stack.enter_context(listener)
        with commit():
            effects = services.record_task_completion(user, task_stub(), completed_at=datetime.now(UTC))
        sent = {period: listener.events() for period, listener in rooms.items()}
    assert effects.badges_awarded
    for period, updates in sent.items():
        # (a trailing update of an earlier test's board, naming other users, may still arrive)
        mine = [u for u in updates if u["type"] == "leaderboard-update" and user.pk in {r["userId"] for r in u["changed"]}]
        assert len(mine) == 1, (period, updates)
