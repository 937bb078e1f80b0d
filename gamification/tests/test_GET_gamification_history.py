"""GET /api/gamification/history (paginated ledger)"""

import pytest

from gamification.tests.helpers import count_queries, give

pytestmark = pytest.mark.django_db
URL = "/api/gamification/history"


def test_paginated_newest_first_and_scoped(user, other_user, auth_client):
    for i in range(5):
        give(user, i + 1, f"h{i}")
    give(other_user, 99, "theirs")
    body = auth_client.get(URL, {"limit": 2, "skip": 1}).json()
    assert [r["points"] for r in body["data"]] == [4, 3]
    assert body["pagination"] == {
        "total": 5, "limit": 2, "skip": 1, "hasMore": True, "next": "/api/gamification/history?limit=2&skip=3",
        "nextCursor": body["pagination"]["nextCursor"],
    }


@pytest.mark.parametrize("params", [{"limit": 0}, {"skip": -1}, {"limit": "x"}, {"skip": 2**63}])
def test_bad_paging_is_a_400(auth_client, params):
    res = auth_client.get(URL, params)
    assert res.status_code == 400 and res.json()["errors"]


def test_constant_queries(user, auth_client):
    for i in range(30):
        give(user, i + 1, f"q{i}")
    auth_client.get(URL, {"limit": 1})  # the bearer is now in the auth cache for both measured requests
    with count_queries() as small:
        auth_client.get(URL, {"limit": 2})
    with count_queries() as large:
        res = auth_client.get(URL, {"limit": 30})
    assert len(res.json()["data"]) == 30
    assert len(small) == len(large)
