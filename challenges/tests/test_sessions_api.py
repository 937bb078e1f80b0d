"""Multiplayer sessions over REST and the session service (sockets are covered in
realtime/tests/test_socket_live.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from challenges.models import Challenge
from challenges.sessions import services as sessions
from challenges.sessions.models import ChallengeSession
from kernel.redis import get_redis
from notifications.models import Notification

pytestmark = pytest.mark.django_db


@pytest.fixture
def challenge(user):
    from tasks.models import Task

    task = Task.objects.create(user=user, title="Write the report", estimated_duration=30)
    return Challenge.objects.create(
        user=user,
        task=task,
        type="timed_completion",
        title="Finish the report",
        status="active",
        points_reward=200,
        configuration={"time_limit": 20},
    )


@pytest.fixture(autouse=True)
def _friends(user, other_user):
    """Invitations go to accepted friends only: the host and `other_user` are friends."""
    user.friends.add(other_user)


def befriend(user, *others):
    user.friends.add(*others)
    return [o.id for o in others]


def create(client, challenge_id, invite):
    return client.post(f"/api/challenges/{challenge_id}/sessions", {"inviteUserIds": invite}, format="json")


# ------------------------------------------------------------------ POST /api/challenges/{id}/sessions
def test_create_session_invites_and_notifies(
    auth_client, user, other_user, challenge, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        r = create(auth_client, challenge.id, [other_user.id])
    assert r.status_code == 201, r.content
    data = r.json()["data"]
    assert data["_id"] == data["id"] and data["challengeId"] == challenge.id
    assert data["room"] == f"session:{data['_id']}" and data["status"] == "active"
    assert data["firstFinisherBonus"] == 50  # 25 % of the challenge's 200 points
    assert [(p["userId"], p["progress"], p["finishedAt"], p["host"]) for p in data["participants"]] == [
        (user.id, 0, None, True),
        (other_user.id, 0, None, False),
    ]
    invite = Notification.objects.get(user=other_user)
    assert invite.type == "session_invite" and invite.data["session_id"] == data["_id"]
    assert not Notification.objects.filter(user=user).exists()
    session = ChallengeSession.objects.get()
    assert session.ends_at - session.started_at == timedelta(minutes=20)
    assert get_redis().hget(sessions.state_key(session.pk), f"p:{other_user.id}") == "0"


@pytest.mark.parametrize(
    "invite",
    [[], "abc", [123], ["not-an-id"], ["0" * 24], None, ["self"], [f"{i:024x}" for i in range(11)]],
)
def test_create_session_bad_invites_are_400(auth_client, user, challenge, invite):
    if invite == ["self"]:
        invite = [user.id]
    r = create(auth_client, challenge.id, invite)
    assert r.status_code == 400, r.content
    assert "inviteUserIds" in r.json()["errors"]
    assert not ChallengeSession.objects.exists()


def test_create_session_for_someone_elses_challenge_is_404(other_client, user, challenge):
    assert create(other_client, challenge.id, [user.id]).status_code == 404
    assert create(other_client, "nope", [user.id]).status_code == 404


def test_one_active_session_per_challenge_and_not_on_finished_ones(auth_client, other_user, challenge):
    assert create(auth_client, challenge.id, [other_user.id]).status_code == 201
    r = create(auth_client, challenge.id, [other_user.id])
    assert r.status_code == 409
    Challenge.objects.filter(pk=challenge.pk).update(status="completed")
    ChallengeSession.objects.update(status="completed")
    assert create(auth_client, challenge.id, [other_user.id]).status_code == 409


# ------------------------------------------------------------------ GET /api/challenges/sessions/{id}
def test_get_session_for_participants_only(auth_client, other_client, client_factory, make_user, other_user, challenge):
    session_id = create(auth_client, challenge.id, [other_user.id]).json()["data"]["_id"]
    assert auth_client.get(f"/api/challenges/sessions/{session_id}").status_code == 200
    r = other_client.get(f"/api/challenges/sessions/{session_id}")
    assert r.status_code == 200 and r.json()["data"]["_id"] == session_id
    stranger = client_factory(make_user())
    assert stranger.get(f"/api/challenges/sessions/{session_id}").status_code == 404
    assert auth_client.get("/api/challenges/sessions/bad").status_code == 404


def test_get_session_query_count_is_constant(auth_client, make_user, challenge, django_assert_num_queries):
    two = befriend(challenge.user, make_user())
    session_id = create(auth_client, challenge.id, two).json()["data"]["_id"]
    with django_assert_num_queries(2):  # session, participants+users (the user: auth cache, warmed by create)
        auth_client.get(f"/api/challenges/sessions/{session_id}")
    ChallengeSession.objects.all().delete()
    many = befriend(challenge.user, *[make_user() for _ in range(8)])
    session_id = create(auth_client, challenge.id, many).json()["data"]["_id"]
    with django_assert_num_queries(2):
        r = auth_client.get(f"/api/challenges/sessions/{session_id}")
    assert len(r.json()["data"]["participants"]) == 9


# ------------------------------------------------------------------ the service: progress, finish, end
def _started_ago(session, seconds):
    ChallengeSession.objects.filter(pk=session.pk).update(started_at=timezone.now() - timedelta(seconds=seconds))
    session.refresh_from_db()


def test_first_finisher_bonus_once_and_result_stored(user, other_user, challenge, django_capture_on_commit_callbacks):
    from gamification.models import LedgerEntry

    with django_capture_on_commit_callbacks(execute=True):
        session = sessions.create_session(user, challenge, [other_user.id])
    with pytest.raises(sessions.SessionError) as err:
        sessions.record_progress(user, challenge.id, 120, {})
    assert err.value.code == "invalid_progress"
    sessions.record_progress(user, challenge.id, 40, {})
    _started_ago(session, 120)
    with django_capture_on_commit_callbacks(execute=True):
        sessions.complete_in_session(other_user, session)
    with pytest.raises(sessions.SessionError) as err:
        sessions.record_progress(other_user, challenge.id, 100, {})
    assert err.value.code == "already_finished"
    bonus = LedgerEntry.objects.get(idempotency_key=f"session:{session.pk}:first")
    assert bonus.user_id == other_user.id and bonus.points == 50
    with django_capture_on_commit_callbacks(execute=True):
        sessions.complete_in_session(user, session)  # the owner: completes the challenge itself
    session.refresh_from_db()
    challenge.refresh_from_db()
    assert challenge.status == "completed"
    assert session.status == "completed" and session.winner_id == other_user.id
    assert [(r["user_id"], r["rank"], r["bonus_points"]) for r in session.result["standings"]] == [
        (other_user.id, 1, 50),
        (user.id, 2, 0),
    ]
    assert LedgerEntry.objects.filter(idempotency_key__startswith="session:").count() == 1
    finished = Notification.objects.filter(type="session_finished")
    assert {n.user_id for n in finished} == {user.id, other_user.id}
    with pytest.raises(sessions.SessionError) as err:
        sessions.record_progress(user, challenge.id, 10, {}, session_id=session.pk)
    assert err.value.code == "session_ended"


# ------------------------------------------------------------------ farming attacks
def test_socket_progress_100_never_finishes_nor_pays(user, other_user, challenge, django_capture_on_commit_callbacks):
    from gamification.models import LedgerEntry

    with django_capture_on_commit_callbacks(execute=True):
        session = sessions.create_session(user, challenge, [other_user.id])
    _started_ago(session, 600)
    with django_capture_on_commit_callbacks(execute=True):
        payload = sessions.record_progress(other_user, challenge.id, 100, {})
        sessions.record_progress(user, challenge.id, 100, {})
    assert payload["progress"] == 99
    session.refresh_from_db()
    assert session.status == "active" and session.winner_id is None
    assert not LedgerEntry.objects.filter(idempotency_key__startswith="session:").exists()
    assert not get_redis().hexists(sessions.state_key(session.pk), f"f:{other_user.id}")


def test_finishing_through_rest_is_checked(auth_client, other_client, user, other_user, challenge):
    session_id = create(auth_client, challenge.id, [other_user.id]).json()["data"]["_id"]
    r = other_client.post(f"/api/challenges/sessions/{session_id}/complete")
    assert r.status_code == 409 and "Too early" in r.json()["message"]
    _started_ago(ChallengeSession.objects.get(pk=session_id), 120)
    r = other_client.post(f"/api/challenges/sessions/{session_id}/complete")
    assert r.status_code == 200, r.content
    row = next(p for p in r.json()["data"]["participants"] if p["userId"] == other_user.id)
    assert row["finishedAt"] and row["bonusPoints"] == 50
    assert other_client.post(f"/api/challenges/sessions/{session_id}/complete").status_code == 409


def test_completing_the_challenge_at_once_earns_no_session_bonus(
    auth_client, user, other_user, challenge, django_capture_on_commit_callbacks
):
    """The farming loop: open a session and complete at once, again and again."""
    from gamification.models import LedgerEntry

    with django_capture_on_commit_callbacks(execute=True):
        session_id = create(auth_client, challenge.id, [other_user.id]).json()["data"]["_id"]
    with django_capture_on_commit_callbacks(execute=True):
        r = auth_client.post(f"/api/challenges/{challenge.id}/complete", {}, format="json")
    assert r.status_code == 200, r.content
    session = ChallengeSession.objects.get(pk=session_id)
    assert get_redis().hexists(sessions.state_key(session.pk), f"f:{user.id}")  # finished, through the server
    assert not LedgerEntry.objects.filter(idempotency_key__startswith="session:").exists()


def test_invitations_go_to_accepted_friends_only(auth_client, user, make_user, challenge):
    from accounts.models import FriendRequest

    stranger = make_user()
    pending = make_user()
    FriendRequest.objects.create(from_user=user, to_user=pending)
    for target in (stranger, pending):
        r = create(auth_client, challenge.id, [target.id])
        assert r.status_code == 400, r.content
        assert "friends" in r.json()["errors"]["inviteUserIds"][0]
    assert not Notification.objects.filter(type="session_invite").exists()


def test_invitations_are_rate_limited_per_host(auth_client, user, make_user, settings):
    from tasks.models import Task

    settings.CHALLENGE_SESSION_INVITES_PER_HOUR = 4
    friends = befriend(user, *[make_user() for _ in range(3)])
    statuses = []
    for n in range(3):
        task = Task.objects.create(user=user, title=f"t{n}")
        c = Challenge.objects.create(user=user, task=task, type="quiz", title="c", status="active", points_reward=10)
        statuses.append(create(auth_client, c.id, friends[:2]).status_code)
    assert statuses == [201, 201, 429], statuses
    assert Notification.objects.filter(type="session_invite").count() == 4


def test_time_running_out_ends_the_session(user, other_user, challenge, django_capture_on_commit_callbacks):
    from challenges.sessions.tasks import expire_sessions

    with django_capture_on_commit_callbacks(execute=True):
        session = sessions.create_session(user, challenge, [other_user.id])
    sessions.record_progress(user, challenge.id, 70, {})
    sessions.record_progress(other_user, challenge.id, 20, {})
    ChallengeSession.objects.filter(pk=session.pk).update(ends_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert expire_sessions() == 1
        assert expire_sessions() == 0
    session.refresh_from_db()
    assert session.status == "expired" and session.winner_id is None
    standings = session.result["standings"]
    assert [(r["user_id"], r["progress"], r["rank"]) for r in standings] == [(user.id, 70, 1), (other_user.id, 20, 2)]
    participants = {p.user_id: p for p in session.participants.all()}
    assert participants[user.id].progress == 70 and participants[user.id].rank == 1


def test_live_state_is_rebuilt_if_redis_lost_it(user, other_user, challenge, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        session = sessions.create_session(user, challenge, [other_user.id])
    get_redis().delete(sessions.state_key(session.pk))
    payload = sessions.session_payload(session)
    assert {p["userId"] if "userId" in p else p["user_id"] for p in payload["participants"]} == {user.id, other_user.id}
    sessions.record_progress(user, challenge.id, 30, {})
    assert get_redis().hget(sessions.state_key(session.pk), f"p:{user.id}") == "30"


def test_progress_without_a_session_needs_the_owner(user, other_user, challenge):
    assert sessions.record_progress(user, challenge.id, 55, {"x": 1})["progress"] == 55
    with pytest.raises(sessions.SessionError) as err:
        sessions.record_progress(other_user, challenge.id, 55, {})
    assert err.value.code == "not_found"


def test_sessions_are_in_the_user_export(user, other_user, challenge):
    from kernel import exports

    session = sessions.create_session(user, challenge, [other_user.id])
    (row,) = exports.export_user(other_user)["challenge_sessions"]
    assert row["session_id"] == session.pk and row["host"] is False and row["status"] == "active"
