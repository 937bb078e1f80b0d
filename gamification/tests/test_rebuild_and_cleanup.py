"""manage.py rebuild_gamification; user.deleted cleanup; the export section."""

from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command

from gamification import leaderboards, services
from gamification.models import GamificationProfile
from gamification.tests.helpers import give
from kernel import exports
from kernel.redis import get_redis

pytestmark = pytest.mark.django_db


@pytest.fixture
def scenario(user, other_user, task_stub, commit):
    with commit():
        services.record_task_completion(user, task_stub(priority="high"), completed_at=datetime.now(UTC), efficiency=95)
        give(other_user, 300)
        services.update_preferences(other_user, show_leaderboard=False)
    return user, other_user


def test_no_drift_after_scenarios(scenario, capsys):
    call_command("rebuild_gamification", "--check")
    assert "0 drift(s) found" in capsys.readouterr().out


def test_reports_and_fixes_profile_and_leaderboard_drift(scenario, capsys):
    user, other_user = scenario
    GamificationProfile.objects.filter(user=user).update(points=1, level=7, tasks_completed=9, daily_current=5)
    get_redis().zincrby(leaderboards.board_key("all", "full"), 999, other_user.pk)
    get_redis().zadd(leaderboards.board_key("all", "pub"), {other_user.pk: 300})  # hidden user leaked
    with pytest.raises(CommandError, match="drift"):
        call_command("rebuild_gamification", "--check")
    out = capsys.readouterr().out
    assert f"{user.pk} points: profile 1 != ledger" in out
    assert f"{user.pk} level: profile 7 != ledger 1" in out
    assert f"{user.pk} tasks_completed: profile 9 != ledger 1" in out
    assert "daily streak" in out
    assert f"leaderboard all/full {other_user.pk}: redis 1299 != ledger 300" in out
    assert f"leaderboard all/pub {other_user.pk}: redis 300 != ledger 0" in out
    call_command("rebuild_gamification")
    capsys.readouterr()
    call_command("rebuild_gamification", "--check")
    assert "0 drift(s) found" in capsys.readouterr().out
    profile = GamificationProfile.objects.get(user=user)
    assert (profile.points, profile.level, profile.tasks_completed, profile.daily_current) == (225, 1, 1, 1)


def test_user_deleted_removes_them_from_every_board(scenario, commit):
    from accounts.services import delete_user

    user, other_user = scenario
    user_id = user.pk
    with commit():
        delete_user(user)
    r = get_redis()
    for k in r.scan_iter(match=leaderboards.board_key("*", "*")):
        assert r.zscore(k, user_id) is None
    assert leaderboards.read_board("all", "full") == {other_user.pk: 300}


def test_export_section(scenario):
    user, _ = scenario
    data = exports.export_user(user)["gamification"]
    assert data["profile"]["points"] == 225
    assert [row["points"] for row in data["ledger"]] == [50, 175]
    assert [b["slug"] for b in data["badges"]] == ["first-steps"]
    assert data["activities"][0]["kind"] == "task.completed"
