"""award() and reverse(): idempotent, atomic totals, multi-level crossing, events."""

import contextlib
import time
from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from devtools.testing.channels import GroupListener
from gamification import leaderboards, rules, services
from gamification.models import GamificationProfile, LedgerEntry
from kernel import events
from realtime import publisher

pytestmark = pytest.mark.django_db


def award(user, points, key, **kw):
    return services.award(user, points=points, xp=kw.pop("xp", points), reason="test", source="admin", idempotency_key=key, **kw)


def test_award_moves_totals_and_writes_one_row(user, commit):
    with commit(), events.capture() as seen:
        result = award(user, 120, "k1")
    profile = GamificationProfile.objects.get(user=user)
    assert (profile.points, profile.xp, profile.level) == (120, 120, 1)
    assert result.created and result.entry.points == 120
    assert LedgerEntry.objects.filter(user=user).count() == 1
    names = [e.name for e in seen]
    assert names.count("points.awarded") == 1
    assert "level.up" not in names
    assert leaderboards.read_board("all", "full") == {user.pk: 120}


def test_award_is_idempotent_on_its_key(user, commit):
    with commit(), events.capture() as seen:
        first = award(user, 50, "same")
        second = award(user, 50, "same")
    assert first.created and not second.created
    assert second.entry.pk == first.entry.pk
    assert GamificationProfile.objects.get(user=user).points == 50
    assert [e.name for e in seen].count("points.awarded") == 1
    assert leaderboards.read_board("all", "full") == {user.pk: 50}


def test_key_of_another_user_is_refused(user, other_user):
    award(user, 5, "shared-key")
    with pytest.raises(ValueError, match="another user"):
        award(other_user, 5, "shared-key")


def test_a_large_award_crosses_several_levels_in_one_go(user):
    with events.capture() as seen:
        result = award(user, 1000 + 1500 + 2250 + 10, "big")
    assert result.level_change == (1, 4)
    profile = GamificationProfile.objects.get(user=user)
    assert profile.level == 4
    assert profile.level_state == rules.LevelState(4, 10, 3375)
    level_ups = [e for e in seen if e.name == "level.up"]
    assert len(level_ups) == 1
    assert (level_ups[0].from_level, level_ups[0].to_level) == (1, 4)


def test_reverse_compensates_once_and_can_take_a_level_back(user, commit):
    with commit():
        entry = award(user, 1200, "up").entry
        assert GamificationProfile.objects.get(user=user).level == 2
        with events.capture() as seen:
            first = services.reverse(entry, reason="undo")
            again = services.reverse(entry, reason="undo")
    assert first.created and not again.created
    assert first.entry.points == -1200 and first.entry.reverses_id == entry.pk
    assert first.entry.occurred_at == entry.occurred_at
    profile = GamificationProfile.objects.get(user=user)
    assert (profile.points, profile.xp, profile.level) == (0, 0, 1)
    assert "level.up" not in [e.name for e in seen]
    assert leaderboards.read_board("all", "full") == {}
    with pytest.raises(ValueError, match="cannot be reversed"):
        services.reverse(first.entry)


def test_ledger_rows_are_immutable(user):
    entry = award(user, 10, "imm").entry
    entry.points = 1_000_000
    with pytest.raises(ValidationError):
        entry.save()
    assert LedgerEntry.objects.get(pk=entry.pk).points == 10


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"points": 1.5, "xp": 1}, TypeError),
        ({"points": True, "xp": 1}, TypeError),
        ({"points": 1, "xp": 1, "source": "lottery"}, ValueError),
        ({"points": 1, "xp": 1, "idempotency_key": ""}, ValueError),
    ],
)
def test_bad_arguments_write_nothing(user, kwargs, error):
    params = {"reason": "x", "source": "admin", "idempotency_key": "bad", **kwargs}
    with pytest.raises(error):
        services.award(user, **params)
    assert not LedgerEntry.objects.exists()


def test_one_commit_is_one_pipeline_and_one_update_per_period(user, other_user, commit):
    from django.db import transaction

    rooms = {period: GroupListener(publisher.room_group(f"leaderboard:{period}")) for period in leaderboards.PERIODS}
    with contextlib.ExitStack() as stack:
        for listener in rooms.values():
            stack.enter_context(listener)
        with commit(), transaction.atomic():
            award(user, 10, "a")
            award(user, 20, "b")
            award(other_user, 5, "c")
        ours = {user.pk, other_user.pk}

        def names_us(update):
            return update["type"] == "leaderboard-update" and ours & {r["userId"] for r in update["changed"]}

        sent = {}
        for period, listener in rooms.items():
            # A trailing update of an earlier test's board may come first: wait for ours, then
            # for anything after it, so a second update of this commit would be seen too.
            updates = listener.events()
            deadline = time.monotonic() + 10
            while not any(map(names_us, updates)) and time.monotonic() < deadline:
                updates += listener.events(timeout=1.0)
            sent[period] = updates + listener.events(timeout=0.5)
    for period, updates in sent.items():
        mine = [u for u in updates if names_us(u)]
        assert len(mine) == 1, (period, updates)
        assert sorted(row["userId"] for row in mine[0]["changed"]) == sorted(ours)
    assert leaderboards.read_board("all", "full") == {user.pk: 30, other_user.pk: 5}


def test_a_rolled_back_savepoint_takes_its_leaderboard_delta_with_it(user, commit):
    from django.db import transaction

    with commit(), transaction.atomic():
        award(user, 10, "kept")
        try:
            with transaction.atomic():
                award(user, 99, "lost")
                raise RuntimeError("boom")
        except RuntimeError:
            pass
    assert GamificationProfile.objects.get(user=user).points == 10
    assert leaderboards.read_board("all", "full") == {user.pk: 10}


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_leaves_nothing_for_the_next_one(user):
    """Really committed and rolled back transactions (not the test's captured callbacks): the
    batch of a rolled-back transaction is gone, so the next commit at the same level gets a
    batch of its own that runs, and only its delta counts."""
    from django.db import transaction

    now = datetime.now(UTC)
    with contextlib.suppress(RuntimeError), transaction.atomic():
        leaderboards.queue(user.pk, 7, now)
        raise RuntimeError("rolled back")
    with transaction.atomic():
        leaderboards.queue(user.pk, 5, now)
        leaderboards.queue(user.pk, 1, now)
    assert leaderboards.read_board("all", "full") == {user.pk: 6}
    leaderboards.queue(user.pk, 2, now)  # outside a transaction: at once
    assert leaderboards.read_board("all", "full") == {user.pk: 8}


def test_periodic_boards_expire_after_their_period(user, commit):
    from kernel.redis import get_redis

    with commit():
        award(user, 10, "exp")
    now = datetime.now(UTC)
    for period in ("day", "week", "month"):
        period_id, _start, end = leaderboards.period_bounds(period, now)
        ttl = get_redis().ttl(leaderboards.board_key(period_id, "full"))
        assert 0 < ttl <= (end - now).total_seconds() + 3600 + 1
    assert get_redis().ttl(leaderboards.board_key("all", "full")) == -1
