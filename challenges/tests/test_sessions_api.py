"""Multiplayer sessions over REST and the session service (sockets are covered in
realtime/tests/test_socket_live.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from challenges.models import Challenge
from challenges.sessions import services as sessions
from challenges.sessions.models import ChallengeSession
from deepiri.redis import get_redis
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
    two = [make_user().id]
    session_id = create(auth_client, challenge.id, two).json()["data"]["_id"]
    with django_assert_num_queries(2):  # session, participants+users (the user: auth cache, warmed by create)
        auth_client.get(f"/api/challenges/sessions/{session_id}")
    ChallengeSession.objects.all().delete()
    many = [make_user().id for _ in range(8)]
    session_id = create(auth_client, challenge.id, many).json()["data"]["_id"]
    with django_assert_num_queries(2):
        r = auth_client.get(f"/api/challenges/sessions/{session_id}")
    assert len(r.json()["data"]["participants"]) == 9


# ------------------------------------------------------------------ the service: progress, finish, end
def test_first_finisher_bonus_once_and_result_stored(user, other_user, challenge, django_capture_on_commit_callbacks):
    from gamification.models import LedgerEntry

    with django_capture_on_commit_callbacks(execute=True):
        session = sessions.create_session(user, challenge, [other_user.id])
    with pytest.raises(sessions.SessionError) as err:
        sessions.record_progress(user, challenge.id, 120, {})
    assert err.value.code == "invalid_progress"
    sessions.record_progress(user, challenge.id, 40, {})
    with django_capture_on_commit_callbacks(execute=True):
        sessions.record_progress(other_user, challenge.id, 100, {})
    with pytest.raises(sessions.SessionError) as err:
        sessions.record_progress(other_user, challenge.id, 100, {})
    assert err.value.code == "already_finished"
    bonus = LedgerEntry.objects.get(idempotency_key=f"session:{session.pk}:first")
    assert bonus.user_id == other_user.id and bonus.points == 50
    with django_capture_on_commit_callbacks(execute=True):
        sessions.record_progress(user, challenge.id, 100, {})
    session.refresh_from_db()
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
    from deepiri import exports

    session = sessions.create_session(user, challenge, [other_user.id])
    (row,) = exports.export_user(other_user)["challenge_sessions"]
    assert row["session_id"] == session.pk and row["host"] is False and row["status"] == "active"
