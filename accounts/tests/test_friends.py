"""Friendship by consent: a request the addressee accepts or declines, list and cancel, and the
friends leaderboard that only counts accepted links. Each step also tried by the wrong user."""

from __future__ import annotations

import pytest

from accounts.models import FriendRequest
from conftest import client_for

pytestmark = pytest.mark.django_db

FRIENDS = "/api/users/friends"
REQUESTS = "/api/users/friends/requests"


def data(response):
    return response.json()["data"]


def ask(client, user):
    r = client.post(FRIENDS, {"friendId": user.pk}, format="json")
    assert r.status_code == 201, r.content
    return data(r)["request"]


def friend_names(client):
    return [f["name"] for f in data(client.get(FRIENDS))]


def test_adding_a_friend_is_a_request_until_accepted(make_user):
    alice, bob, mallory = make_user(name="Alice"), make_user(name="Bob"), make_user(name="Mallory")
    a, b, m = client_for(alice), client_for(bob), client_for(mallory)
    request = ask(a, bob)
    assert request["status"] == "pending" and request["toUser"]["id"] == bob.pk
    assert friend_names(a) == [] and friend_names(b) == []
    # listed on both sides
    assert [r["id"] for r in data(a.get(REQUESTS))["outgoing"]] == [request["id"]]
    assert [r["id"] for r in data(b.get(REQUESTS))["incoming"]] == [request["id"]]
    assert data(m.get(REQUESTS)) == {"incoming": [], "outgoing": []}
    # only the addressee answers; the requester and strangers get 404
    assert a.post(f"{REQUESTS}/{request['id']}/accept").status_code == 404
    assert m.post(f"{REQUESTS}/{request['id']}/accept").status_code == 404
    assert FriendRequest.objects.get(pk=request["id"]).status == "pending"
    accepted = b.post(f"{REQUESTS}/{request['id']}/accept")
    assert accepted.status_code == 200 and data(accepted)["status"] == "accepted"
    assert friend_names(a) == ["Bob"] and friend_names(b) == ["Alice"]
    # answered once
    assert b.post(f"{REQUESTS}/{request['id']}/decline").status_code == 409
    assert b.post(f"{REQUESTS}/{request['id']}/maybe").status_code == 404


def test_decline_cancel_and_no_pestering(make_user):
    alice, bob = make_user(name="Alice"), make_user(name="Bob")
    a, b = client_for(alice), client_for(bob)
    first = ask(a, bob)
    # only the requester cancels
    assert b.delete(f"{REQUESTS}/{first['id']}").status_code == 404
    cancelled = a.delete(f"{REQUESTS}/{first['id']}")
    assert cancelled.status_code == 200 and data(cancelled)["status"] == "cancelled"
    assert data(b.get(REQUESTS))["incoming"] == []
    second = ask(a, bob)
    declined = b.post(f"{REQUESTS}/{second['id']}/decline")
    assert declined.status_code == 200 and data(declined)["status"] == "declined"
    assert friend_names(a) == [] and friend_names(b) == []
    # a declined requester cannot ask again right away
    again = a.post(FRIENDS, {"friendId": bob.pk}, format="json")
    assert again.status_code == 400 and "declined" in str(again.json())


def test_asking_someone_who_asked_you_accepts_their_request(make_user):
    alice, bob = make_user(name="Alice"), make_user(name="Bob")
    request = ask(client_for(alice), bob)
    mutual = ask(client_for(bob), alice)
    assert mutual["id"] == request["id"] and mutual["status"] == "accepted"
    assert friend_names(client_for(alice)) == ["Bob"]


def test_friends_leaderboard_counts_accepted_links_only(make_user, django_capture_on_commit_callbacks):
    from gamification import services as gamification_services

    me, pending, declined, friend = (make_user(name=n) for n in ("Me", "Pending", "Declined", "Friend"))
    with django_capture_on_commit_callbacks(execute=True):  # leaderboards are written on commit
        for n, u in enumerate((pending, declined, friend), start=1):
            gamification_services.award(
                u, points=100 * n, xp=0, reason="seed", source="admin", source_id="t", idempotency_key=f"seed-{u.pk}"
            )
    mine = client_for(me)
    ask(mine, pending)
    r = ask(mine, declined)
    client_for(declined).post(f"{REQUESTS}/{r['id']}/decline")
    r = ask(mine, friend)
    client_for(friend).post(f"{REQUESTS}/{r['id']}/accept")
    board = mine.get("/api/gamification/leaderboard", {"scope": "friends"})
    assert board.status_code == 200, board.content
    names = {row["userId"]["name"] for row in data(board)}
    assert "Friend" in names and not names & {"Pending", "Declined"}


def test_the_addressee_is_notified(make_user, django_capture_on_commit_callbacks):
    from notifications.models import Notification

    alice, bob = make_user(name="Alice"), make_user(name="Bob")
    with django_capture_on_commit_callbacks(execute=True):
        request = ask(client_for(alice), bob)
    note = Notification.objects.get(user=bob)
    assert note.type == "friend_request" and "Alice" in note.title
    assert note.data["request_id"] == request["id"]
    assert not Notification.objects.filter(user=alice).exists()
    # a refused duplicate notifies no one again
    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(alice).post(FRIENDS, {"friendId": bob.pk}, format="json").status_code == 409
    assert Notification.objects.filter(user=bob).count() == 1


def test_request_lists_cost_the_same_queries_for_many_requests(make_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    me = make_user()
    client = client_for(me)
    ask(client_for(make_user()), me)
    with CaptureQueriesContext(connection) as few:
        assert len(data(client.get(REQUESTS))["incoming"]) == 1
    for _ in range(10):
        ask(client_for(make_user()), me)
    with CaptureQueriesContext(connection) as many:
        assert len(data(client.get(REQUESTS))["incoming"]) == 11
    assert len(many.captured_queries) == len(few.captured_queries)
