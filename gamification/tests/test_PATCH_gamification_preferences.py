"""PATCH /api/gamification/preferences"""

import pytest

from gamification.models import GamificationProfile

pytestmark = pytest.mark.django_db
URL = "/api/gamification/preferences"


def test_updates_and_returns_the_profile(user, auth_client):
    res = auth_client.patch(URL, {"enableNotifications": False, "challengeDifficulty": "hard"}, format="json")
    assert res.status_code == 200
    assert res.json()["data"]["preferences"] == {
        "showLeaderboard": True, "enableNotifications": False, "challengeDifficulty": "hard",
    }
    profile = GamificationProfile.objects.get(user=user)
    assert (profile.enable_notifications, profile.challenge_difficulty) == (False, "hard")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"challengeDifficulty": "insane"}, "challengeDifficulty"),
        ({"showLeaderboard": "perhaps"}, "showLeaderboard"),
        ({"colour": "red"}, "colour"),
        ({}, "nonFieldErrors"),
    ],
)
def test_bad_input_is_a_400_and_changes_nothing(user, auth_client, body, field):
    res = auth_client.patch(URL, body, format="json")
    assert res.status_code == 400
    assert field in res.json()["errors"]
    assert not GamificationProfile.objects.filter(user=user, challenge_difficulty="insane").exists()


def test_malformed_json_is_a_400(auth_client):
    res = auth_client.generic("PATCH", URL, b"{not json", content_type="application/json")
    assert res.status_code == 400


def test_other_methods_are_405(auth_client):
    assert auth_client.post(URL, {}, format="json").status_code == 405
