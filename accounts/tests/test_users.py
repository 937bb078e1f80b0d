"""/api/users/: profile, preferences, stats, search, friends, public profile, export, account deletion."""

from __future__ import annotations

import pytest

from accounts.models import User
from conftest import client_for

pytestmark = pytest.mark.django_db


def test_profile_get_put_patch(auth_client, user):
    r = auth_client.get("/api/users/profile")
    assert r.status_code == 200 and r.json()["data"]["email"] == user.email
    r = auth_client.patch("/api/users/profile", {"bio": "Hi", "timezone": "Pacific/Kiritimati"}, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["data"]["bio"] == "Hi" and r.json()["data"]["timezone"] == "Pacific/Kiritimati"
    r = auth_client.put("/api/users/profile", {"name": "Alice B", "profilePicture": "https://example.com/a.png"}, format="json")
    assert r.status_code == 200 and r.json()["data"]["profilePicture"] == "https://example.com/a.png"


@pytest.mark.parametrize(
    "body",
    [
        {"timezone": "Nowhere/City"},
        {"name": "A"},
        {"bio": "x" * 501},
        {"profilePicture": "not a url"},
        {"email": "new@example.com"},
        {"isStaff": True},
    ],
)
def test_profile_bad_input_is_400_and_nothing_changes(auth_client, user, body):
    r = auth_client.patch("/api/users/profile", body, format="json")
    assert r.status_code == 400, r.content
    assert r.json()["errors"]
    fresh = User.objects.get(pk=user.pk)
    assert (fresh.name, fresh.timezone, fresh.bio, fresh.email, fresh.is_staff) == (user.name, user.timezone, user.bio, user.email, False)


def test_preferences_patch_merges_put_replaces_and_validates(auth_client, user):
    r = auth_client.patch("/api/users/preferences", {"theme": "dark"}, format="json")
    assert r.status_code == 200 and r.json()["data"] == {"theme": "dark"}
    r = auth_client.patch("/api/users/preferences", {"preferences": {"dailyGoal": 5}}, format="json")
    assert r.json()["data"] == {"theme": "dark", "dailyGoal": 5}
    r = auth_client.put("/api/users/preferences", {"focusMode": True}, format="json")
    assert r.json()["data"] == {"focusMode": True}
    r = auth_client.patch("/api/users/preferences", {"dailyGoal": 1000}, format="json")
    assert r.status_code == 400 and "preferences" in r.json()["errors"]
    r = auth_client.patch("/api/users/preferences", {"bogus": 1}, format="json")
    assert r.status_code == 400
    assert auth_client.get("/api/users/preferences").json()["data"] == {"focusMode": True}


def test_search_friends_and_public_profile(auth_client, user, other_user, make_user):
    make_user(email="carol@example.com", name="Carol", is_active=False)
    r = auth_client.get("/api/users/search", {"query": "bo"})
    assert r.status_code == 200
    hits = r.json()["data"]
    assert [h["name"] for h in hits] == ["Bob"]
    assert "email" not in hits[0]
    assert auth_client.get("/api/users/search", {"query": "c"}).status_code == 400
    assert auth_client.get("/api/users/search", {"query": "carol"}).json()["data"] == []  # inactive hidden
    assert auth_client.get("/api/users/search", {"query": "bob", "limit": 0}).status_code == 400
    assert auth_client.get("/api/users/search", {"query": "bob", "limit": 500}).status_code == 200  # capped

    r = auth_client.post("/api/users/friends", {"friendId": other_user.pk}, format="json")
    assert r.status_code == 201 and r.json()["data"]["friend"]["_id"] == other_user.pk
    assert r.json()["data"]["request"]["status"] == "pending"
    again = auth_client.post("/api/users/friends", {"friendId": other_user.pk}, format="json")
    assert again.status_code == 409 and again.json()["errorCodes"] == {"friendId": ["already_exists"]}
    assert auth_client.post("/api/users/friends", {"friendId": user.pk}, format="json").status_code == 400
    assert auth_client.post("/api/users/friends", {"friendId": "0" * 24}, format="json").status_code == 404
    assert auth_client.get("/api/users/friends").json()["data"] == []  # not until Bob accepts
    request_id = r.json()["data"]["request"]["id"]
    assert client_for(other_user).post(f"/api/users/friends/requests/{request_id}/accept").status_code == 200
    assert [f["name"] for f in auth_client.get("/api/users/friends").json()["data"]] == ["Bob"]
    assert other_user.friends.filter(pk=user.pk).exists()  # both directions
    assert auth_client.delete(f"/api/users/friends/{other_user.pk}").status_code == 200
    assert auth_client.delete(f"/api/users/friends/{other_user.pk}").status_code == 404

    r = auth_client.get(f"/api/users/{other_user.pk}")
    assert r.status_code == 200 and set(r.json()["data"]) == {"_id", "id", "name", "profilePicture", "bio", "createdAt"}
    assert auth_client.get("/api/users/doesnotexist").status_code == 404


def test_stats(auth_client):
    data = auth_client.get("/api/users/stats").json()["data"]
    assert data["friendsCount"] == 0 and data["accountAge"] == 0


def test_stats_count_other_apps_rows_through_their_registered_contributors(auth_client, user):
    """tasks and challenges register what they count (accounts names no other app's model)."""
    from challenges.models import Challenge, ChallengeStatus
    from tasks.services import complete_task, create_task

    done = create_task(user, title="Ship it", understand=False)
    complete_task(user, done)
    open_task = create_task(user, title="Plan it", understand=False)
    Challenge.objects.create(user=user, task=open_task, type="quiz", title="Q", status=ChallengeStatus.COMPLETED)
    Challenge.objects.create(user=user, task=open_task, type="quiz", title="Q2")
    data = auth_client.get("/api/users/stats").json()["data"]
    assert {k: data[k] for k in ("tasksTotal", "tasksCompleted", "challengesTotal", "challengesCompleted")} == {
        "tasksTotal": 2,
        "tasksCompleted": 1,
        "challengesTotal": 2,
        "challengesCompleted": 1,
    }


def test_export_contains_the_user_and_registered_sections(auth_client, user):
    r = auth_client.get("/api/users/export")
    assert r.status_code == 200
    data = r.json()["data"]
    assert data["user"]["email"] == user.email
    assert "account" in data


def test_delete_account_requires_password_and_removes_everything(auth_client, user):
    from accounts.events import UserDeleted
    from kernel import events

    assert auth_client.delete("/api/users/account", {}, format="json").status_code == 400
    assert auth_client.delete("/api/users/account", {"password": "wrong"}, format="json").status_code == 401
    assert User.objects.filter(pk=user.pk).exists()
    with events.capture() as seen:
        r = auth_client.delete("/api/users/account", {"password": "Correct-Horse-42!"}, format="json")
    assert r.status_code == 200
    assert not User.objects.filter(pk=user.pk).exists()
    assert UserDeleted(user_id=user.pk) in seen
    assert auth_client.get("/api/users/profile").status_code == 401


def test_another_users_data_is_never_reachable(auth_client, other_client, user, other_user):
    other_client.patch("/api/users/profile", {"bio": "secret bio"}, format="json")
    r = auth_client.get(f"/api/users/{other_user.pk}")
    assert r.json()["data"]["bio"] == "secret bio"  # bio is public by design; email and preferences are not
    assert "email" not in r.json()["data"] and "preferences" not in r.json()["data"]
