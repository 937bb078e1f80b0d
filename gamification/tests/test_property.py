"""Property: any sequence of awards, duplicate deliveries, reversals and visibility changes
leaves totals, levels and every current leaderboard equal to what the ledger says."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gamification import leaderboards, rules, services
from gamification.models import GamificationProfile, LedgerEntry
from kernel.redis import get_redis

pytestmark = pytest.mark.django_db

ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("award"),
            st.integers(0, 2),  # which user
            st.integers(1, 3000),  # points
            st.integers(0, 7),  # key (repeats = duplicate deliveries)
            st.integers(0, 45 * 24),  # hours ago
        ),
        st.tuples(st.just("reverse"), st.integers(0, 50)),
        st.tuples(st.just("visibility"), st.integers(0, 2), st.booleans()),
    ),
    max_size=25,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=ops)
def test_ledger_is_the_truth(make_user, django_capture_on_commit_callbacks, ops):
    now = datetime.now(UTC)
    with transaction.atomic():
        get_redis().flushdb()
        users = [make_user() for _ in range(3)]
        with django_capture_on_commit_callbacks(execute=True):
            for op in ops:
                if op[0] == "award":
                    _, who, pts, k, hours = op
                    services.award(
                        users[who], points=pts, xp=pts, reason="prop", source="admin",
                        idempotency_key=f"prop:{who}:{k}", occurred_at=now - timedelta(hours=hours),
                    )
                elif op[0] == "reverse":
                    candidates = list(
                        LedgerEntry.objects.filter(reverses__isnull=True, reversal__isnull=True, user__in=users).order_by("pk")
                    )
                    if candidates:
                        services.reverse(candidates[op[1] % len(candidates)])
                else:
                    _, who, visible = op
                    services.update_preferences(users[who], show_leaderboard=visible)

        for user in users:
            profile = services.get_or_create_profile(user)
            sums = LedgerEntry.objects.filter(user=user).aggregate(p=Sum("points"), x=Sum("xp"))
            assert profile.points == (sums["p"] or 0) >= 0
            assert profile.xp == (sums["x"] or 0)
            assert profile.level == rules.level_for_xp(profile.xp).level
        for period_id, board in leaderboards.expected_boards().items():
            assert leaderboards.read_board(period_id, "full") == board["full"], period_id
            assert leaderboards.read_board(period_id, "pub") == board["pub"], period_id
        for user in users:
            hidden = not GamificationProfile.objects.get(user=user).show_leaderboard if GamificationProfile.objects.filter(user=user).exists() else False
            if hidden:
                assert user.pk not in leaderboards.read_board("all", "pub")
        assert services.rebuild_all(write=False) == []
        transaction.set_rollback(True)
