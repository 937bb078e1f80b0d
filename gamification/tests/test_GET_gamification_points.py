"""GET /api/gamification/points"""

import pytest

from gamification.tests.helpers import give

pytestmark = pytest.mark.django_db


def test_new_user_starts_at_level_1(auth_client):
    res = auth_client.get("/api/gamification/points")
    assert res.status_code == 200
    assert res.json()["data"] == {"points": 0, "xp": 0, "totalXp": 0, "level": 1, "xpToNextLevel": 1000, "recent": []}


def test_points_level_and_recent_rows(user, auth_client):
    give(user, 1200, "a")
    give(user, 30, "b")
    data = auth_client.get("/api/gamification/points/").json()["data"]
    assert (data["points"], data["level"], data["xp"], data["xpToNextLevel"], data["totalXp"]) == (1230, 2, 230, 1500, 1230)
    assert [r["points"] for r in data["recent"]] == [30, 1200]
    row = data["recent"][0]
    assert row["_id"] == row["id"] and row["reason"] == "test" and row["breakdown"] == [{"reason": "test", "amount": 30}]


def test_needs_authentication(api_client):
    assert api_client.get("/api/gamification/points").status_code == 401
