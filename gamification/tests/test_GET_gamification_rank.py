"""GET /api/gamification/rank?period="""

import pytest

from gamification.tests.helpers import give

pytestmark = pytest.mark.django_db


def test_rank_ties_share_and_period_is_validated(make_user, client_factory, commit):
    a, b, c = make_user(), make_user(), make_user()
    with commit():
        give(a, 30)
        give(b, 30)
        give(c, 10)
    assert client_factory(b).get("/api/gamification/rank").json()["data"] == {"rank": 1, "points": 30}
    assert client_factory(c).get("/api/gamification/rank", {"period": "week"}).json()["data"] == {"rank": 3, "points": 10}
    res = client_factory(c).get("/api/gamification/rank", {"period": "decade"})
    assert res.status_code == 400 and "period" in res.json()["errors"]


def test_no_points_no_rank(auth_client):
    assert auth_client.get("/api/gamification/rank").json()["data"] == {"rank": None, "points": 0}


def test_rank_alone_reads_no_top(make_user, client_factory, commit):
    from gamification import leaderboards

    users = [make_user() for _ in range(3)]
    with commit():
        for i, u in enumerate(users):
            give(u, 10 * (i + 1))
    read = leaderboards.top_and_rank("all", users[0].pk, 0)
    assert (read.top, read.my_rank, read.my_points) == ([], 3, 10)
