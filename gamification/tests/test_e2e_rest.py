"""End to end over REST with the real tasks and challenges apps: completing moves points, XP,
level, streaks, badges and all four leaderboards exactly as the rules say, with `effects`."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from devtools.testing.celery import eager_celery  # noqa: F401 - autouse: Celery inline
from gamification import leaderboards, rules, services
from gamification.models import GamificationProfile, LedgerEntry

pytestmark = pytest.mark.django_db


def new_task(client, **fields):
    res = client.post("/api/tasks", {"title": "Write the report", "estimatedDuration": 30, **fields}, format="json")
    assert res.status_code == 201, res.content
    return res.json()["data"]["_id"]


def boards(user_id):
    now = datetime.now(UTC)
    return {p: leaderboards.read_board(leaderboards.period_bounds(p, now)[0], "full").get(user_id, 0)
            for p in leaderboards.PERIODS}


def test_complete_reopen_complete_again(user, auth_client, commit):
    task_id = new_task(auth_client, priority="high")
    with commit():
        res = auth_client.post(f"/api/tasks/{task_id}/complete", {"actualDuration": 30}, format="json")
    assert res.status_code == 200
    effects = res.json()["data"]["effects"]
    # high 150 + efficiency 100% (+25) = 175, then first-steps (+50)
    assert effects["pointsAwarded"] == 225 and effects["xpAwarded"] == 225
    assert effects["breakdown"] == [
        {"reason": "priority:high", "amount": 150},
        {"reason": "efficiency>=90", "amount": 25},
        {"reason": "badge:first-steps", "amount": 50},
    ]
    assert [b["slug"] for b in effects["badgesAwarded"]] == ["first-steps"]
    assert effects["streak"] == {"daily": 1, "weekly": 1}
    assert "levelUp" not in effects
    assert boards(user.pk) == {"all": 225, "day": 225, "week": 225, "month": 225}

    # the same completion again: the same task, no new award
    with commit():
        again = auth_client.post(f"/api/tasks/{task_id}/complete", {"actualDuration": 30}, format="json")
    assert again.status_code == 200 and again.json()["data"]["effects"]["pointsAwarded"] == 0
    assert LedgerEntry.objects.filter(user=user).count() == 2

    # reopen: the task award is reversed (the badge stays)
    with commit():
        res = auth_client.post(f"/api/tasks/{task_id}/reopen", {}, format="json")
    assert res.status_code == 200
    assert res.json()["data"]["effects"]["pointsAwarded"] == -175
    profile = GamificationProfile.objects.get(user=user)
    assert (profile.points, profile.tasks_completed, profile.daily_current) == (50, 0, 0)
    assert boards(user.pk) == {"all": 50, "day": 50, "week": 50, "month": 50}

    # and complete again: one net award
    with commit():
        res = auth_client.post(f"/api/tasks/{task_id}/complete", {}, format="json")
    assert res.json()["data"]["effects"]["pointsAwarded"] == 150  # no duration: no efficiency bonus
    assert GamificationProfile.objects.get(user=user).points == 200
    assert boards(user.pk)["all"] == 200

    data = auth_client.get("/api/gamification/profile").json()["data"]
    assert (data["points"], data["rank"], data["stats"]["tasksCompleted"]) == (200, 1, 1)
    assert services.rebuild_all(write=False) == []


def test_patch_status_completed_is_the_same_as_complete(user, auth_client, commit):
    task_id = new_task(auth_client, priority="low")
    with commit():
        res = auth_client.patch(f"/api/tasks/{task_id}", {"status": "completed"}, format="json")
    assert res.status_code == 200
    assert GamificationProfile.objects.get(user=user).points == 50 + 50  # low + first-steps


def test_crossing_levels_from_a_big_challenge(user, auth_client, commit, settings):
    settings.AI_SERVICE_URL = ""
    task_id = new_task(auth_client)
    with commit():
        res = auth_client.post("/api/challenges/generate", {"taskId": task_id}, format="json")
    assert res.status_code in (201, 202), res.content
    challenge_id = res.json()["data"]["_id"]
    from challenges.models import Challenge

    Challenge.objects.filter(pk=challenge_id).update(points_reward=1500, bonus_multiplier=2)
    with commit():
        assert auth_client.post(f"/api/challenges/{challenge_id}/start", {}, format="json").status_code == 200
        res = auth_client.post(
            f"/api/challenges/{challenge_id}/complete", {"score": 100, "accuracy": 100, "completionTime": 60}, format="json"
        )
    assert res.status_code == 200, res.content
    effects = res.json()["data"]["effects"]
    challenge = Challenge.objects.get(pk=challenge_id)
    expected = rules.challenge_points(
        1500, 2, score=100, accuracy=100, hints_used=challenge.hints_used, completion_seconds=60,
        time_limit_seconds=(challenge.time_limit or 0) * 60 or None,
    )
    assert effects["breakdown"][: len(expected.breakdown)] == expected.breakdown_list()
    profile = GamificationProfile.objects.get(user=user)
    assert effects["levelUp"] == {"from": 1, "to": profile.level} and profile.level >= 3
    assert profile.level == rules.level_for_xp(profile.xp).level
    assert boards(user.pk)["week"] == profile.points
    # a repeat is idempotent
    with commit():
        again = auth_client.post(f"/api/challenges/{challenge_id}/complete", {"score": 100}, format="json")
    assert again.json()["data"]["effects"]["pointsAwarded"] == 0
    assert services.rebuild_all(write=False) == []


def test_streaks_over_rest_in_the_users_zone(make_user, client_factory, commit):
    user = make_user(timezone="Pacific/Kiritimati")
    day = datetime(2026, 12, 30, 9, 0, tzinfo=UTC)  # 23:00 local, Wed of 2026-W53
    # local Dec 23 (2026-W52), Dec 30 (2026-W53), Jan 5 01:00 (2027-W01)
    for offset in (timedelta(days=-7), timedelta(0), timedelta(days=5, hours=2)):
        with time_machine.travel(day + offset, tick=False), commit():
            client = client_factory(user)
            effects = client.post(f"/api/tasks/{new_task(client)}/complete", {}, format="json").json()["data"]["effects"]
    assert effects["streak"] == {"daily": 1, "weekly": 3}
