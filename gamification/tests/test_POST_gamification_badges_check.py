"""POST /api/gamification/badges/check"""

import pytest

from gamification.models import GamificationProfile, UserBadge
from gamification.tests.helpers import give

pytestmark = pytest.mark.django_db


def test_awards_what_is_earned_once(user, auth_client):
    give(user, 1000)
    res = auth_client.post("/api/gamification/badges/check", {}, format="json")
    assert res.status_code == 200
    assert [b["slug"] for b in res.json()["data"]["awardedBadges"]] == ["point-collector"]
    again = auth_client.post("/api/gamification/badges/check", {}, format="json")
    assert again.json()["data"]["awardedBadges"] == []
    assert UserBadge.objects.filter(user=user).count() == 1
    assert GamificationProfile.objects.get(user=user).points == 1050


def test_needs_authentication(api_client):
    assert api_client.post("/api/gamification/badges/check").status_code == 401
