"""Challenge lifecycle over REST: list/retrieve, start, hint, complete, expiry, 202 + the stale sweep."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from challenges.models import Challenge
from challenges.services import expire_overdue, request_generation, run_generation
from kernel import events
from tasks.services import create_task

pytestmark = pytest.mark.django_db


def make_challenge(user, title="Read chapter 5 of the algorithms book", **kwargs):
    task = create_task(user, title=title, description="Take notes on graphs. Focus on BFS.",
                       estimated_duration=45, understand=False)
    challenge = request_generation(user, task, **kwargs)
    return run_generation(challenge.pk)  # what the worker does


def data_of(response, status=200):
    assert response.status_code == status, response.json()
    return response.json()["data"]


def test_retrieve_and_list(auth_client, user, other_user):
    quiz = make_challenge(user)
    code = make_challenge(user, title="Fix the login API")
    make_challenge(other_user)
    data = data_of(auth_client.get(f"/api/challenges/{quiz.pk}"))
    assert data["_id"] == quiz.pk and data["type"] == "quiz"
    assert data["taskId"]["title"] == "Read chapter 5 of the algorithms book"
    assert data["status"] == "pending" and data["startedAt"] is None

    def ids(query=""):
        return [c["id"] for c in data_of(auth_client.get(f"/api/challenges{query}"))]

    assert ids() == [code.pk, quiz.pk]
    assert ids("?type=quiz") == [quiz.pk]
    assert ids(f"?taskId={code.task_id}") == [code.pk]
    assert ids("?status=completed") == []
    for bad in ("?status=finished", "?type=dance", "?limit=0"):
        assert auth_client.get(f"/api/challenges{bad}").status_code == 400


@pytest.mark.parametrize("limit", [10, 100])
def test_list_query_count_is_constant(auth_client, user, django_assert_num_queries, limit):
    task = create_task(user, title="Read the book", understand=False)
    Challenge.objects.bulk_create(
        [Challenge(user=user, task=task, type="quiz", title=f"C{i}", status="pending") for i in range(100)]
    )
    auth_client.get("/api/challenges?limit=1")  # the signed-in user is in the auth cache from here on
    with django_assert_num_queries(1):  # the page joined with its tasks, with the total
        response = auth_client.get(f"/api/challenges?limit={limit}")
    rows = data_of(response)
    assert len(rows) == limit and all(r["taskId"]["title"] == "Read the book" for r in rows)


def test_another_users_challenge_is_404_on_every_route(auth_client, other_user):
    theirs = make_challenge(other_user)
    base = f"/api/challenges/{theirs.pk}"
    assert auth_client.get(base).status_code == 404
    for action in ("start", "hint", "complete"):
        assert auth_client.post(f"{base}/{action}", {}, format="json").status_code == 404
    assert auth_client.get("/api/challenges/not-an-id").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "pending" and theirs.hints_used == 0


def test_start_sets_active_and_expiry(auth_client, user):
    challenge = make_challenge(user)
    before = timezone.now()
    data = data_of(auth_client.post(f"/api/challenges/{challenge.pk}/start"))
    assert data["status"] == "active"
    challenge.refresh_from_db()
    assert challenge.started_at >= before
    assert challenge.expires_at == challenge.started_at + timedelta(minutes=challenge.configuration["time_limit"])
    again = data_of(auth_client.post(f"/api/challenges/{challenge.pk}/start"))  # idempotent
    assert again["startedAt"] == data["startedAt"]


def test_hints_in_order_then_none_left(auth_client, user):
    challenge = make_challenge(user)
    hints = challenge.configuration["hints"]
    auth_client.post(f"/api/challenges/{challenge.pk}/start")
    for i, expected in enumerate(hints, start=1):
        data = data_of(auth_client.post(f"/api/challenges/{challenge.pk}/hint"))
        assert data == {"challengeId": challenge.pk, "hint": expected, "hintsUsed": i,
                        "hintsRemaining": len(hints) - i}
        shown = data_of(auth_client.get(f"/api/challenges/{challenge.pk}"))
        assert shown["configuration"]["hints"] == hints[:i]
        assert shown["hintsUsed"] == i
    response = auth_client.post(f"/api/challenges/{challenge.pk}/hint")
    assert response.status_code == 409
    assert "No hints left" in response.json()["message"]
    challenge.refresh_from_db()
    assert challenge.hints_used == len(hints)


def test_complete_once_with_effects_and_event(auth_client, user):
    challenge = make_challenge(user)
    auth_client.post(f"/api/challenges/{challenge.pk}/start")
    auth_client.post(f"/api/challenges/{challenge.pk}/hint")
    with events.capture() as seen:
        data = data_of(auth_client.post(
            f"/api/challenges/{challenge.pk}/complete",
            {"completionTime": 300, "score": 92.6, "accuracy": 80, "attemptsUsed": 1, "hintsUsed": 0},
            format="json",
        ))
    assert data["status"] == "completed"
    cd = data["completionData"]
    assert (cd["completionTime"], cd["score"], cd["accuracy"], cd["attemptsUsed"]) == (300, 93, 80, 1)
    assert cd["hintsUsed"] == 1  # the server counted the hint it gave
    assert set(data["effects"]) >= {"pointsAwarded", "xpAwarded", "breakdown", "badgesAwarded"}
    completed = [e for e in seen if e.name == "challenge.completed"]
    assert len(completed) == 1
    assert completed[0].challenge.pk == challenge.pk
    assert completed[0].challenge.points_reward == challenge.points_reward and completed[0].challenge.score == 93
    assert data["configuration"]["hints"] == challenge.configuration["hints"]  # all shown once over

    with events.capture() as seen:
        again = data_of(auth_client.post(f"/api/challenges/{challenge.pk}/complete", {"score": 10}, format="json"))
    assert again["completionData"] == cd
    assert again["effects"]["pointsAwarded"] == 0
    assert [e.name for e in seen if e.name.startswith("challenge.")] == []


def test_complete_from_pending_is_allowed(auth_client, user):
    challenge = make_challenge(user)
    data = data_of(auth_client.post(f"/api/challenges/{challenge.pk}/complete", {}, format="json"))
    assert data["status"] == "completed"
    # omitted score and accuracy stay unknown (null), so the reward is not scaled down for them
    assert data["completionData"]["score"] is None and data["completionData"]["accuracy"] is None
    assert data["effects"]["pointsAwarded"] >= challenge.points_reward  # full marks (+ a speed bonus)


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"score": 101}, "score"), ({"score": -1}, "score"), ({"score": "lots"}, "score"), ({"score": "NaN"}, "score"),
     ({"accuracy": 100.5}, "accuracy"), ({"completionTime": -1}, "completionTime"),
     ({"completionTime": 10**9}, "completionTime"), ({"attemptsUsed": 0}, "attemptsUsed"),
     ({"hintsUsed": -2}, "hintsUsed")],
)
def test_complete_bad_input(auth_client, user, payload, field):
    challenge = make_challenge(user)
    response = auth_client.post(f"/api/challenges/{challenge.pk}/complete", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    challenge.refresh_from_db()
    assert challenge.status == "pending"


def test_expired_challenge_refuses_completion_and_is_marked(auth_client, user):
    challenge = make_challenge(user)
    auth_client.post(f"/api/challenges/{challenge.pk}/start")
    Challenge.objects.filter(pk=challenge.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with events.capture() as seen:
        response = auth_client.post(f"/api/challenges/{challenge.pk}/complete", {"score": 100}, format="json")
    assert response.status_code == 409
    assert "expired" in response.json()["message"]
    assert [e.name for e in seen if e.name == "challenge.completed"] == []
    challenge.refresh_from_db()
    assert challenge.status == "expired" and challenge.completed_at is None
    assert auth_client.post(f"/api/challenges/{challenge.pk}/hint").status_code == 409
    assert auth_client.post(f"/api/challenges/{challenge.pk}/start").status_code == 409
    assert auth_client.post(f"/api/challenges/{challenge.pk}/complete", {}, format="json").status_code == 409


def test_hint_after_expiry_marks_it(auth_client, user):
    challenge = make_challenge(user)
    auth_client.post(f"/api/challenges/{challenge.pk}/start")
    Challenge.objects.filter(pk=challenge.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert auth_client.post(f"/api/challenges/{challenge.pk}/hint").status_code == 409
    challenge.refresh_from_db()
    assert challenge.status == "expired" and challenge.hints_used == 0


def test_beat_job_expires_overdue_only(user):
    overdue, running, waiting = make_challenge(user), make_challenge(user), make_challenge(user)
    now = timezone.now()
    Challenge.objects.filter(pk=overdue.pk).update(status="active", started_at=now, expires_at=now - timedelta(1))
    Challenge.objects.filter(pk=running.pk).update(status="active", started_at=now, expires_at=now + timedelta(1))
    from challenges.tasks import expire_overdue_challenges

    assert expire_overdue_challenges.delay().get() == {"expired": 1, "requeued": 0, "regenerated": 0}
    statuses = dict(Challenge.objects.values_list("pk", "status"))
    assert statuses == {overdue.pk: "expired", running.pk: "active", waiting.pk: "pending"}


def test_202_when_not_ready_then_the_stale_sweep_finishes_it(auth_client, user, settings):
    # In this rolled-back test transaction nothing is dispatched after commit: as if no worker
    # picked the job up yet.
    task = create_task(user, title="Write the launch blog post", understand=False)
    response = auth_client.post("/api/challenges/generate", {"taskId": task.pk, "type": "puzzle"}, format="json")
    assert response.status_code == 202
    data = response.json()["data"]
    assert data["status"] == "generating" and data["type"] == "puzzle"
    assert data["aiMetadata"]["source"] is None
    for action in ("start", "hint", "complete"):
        assert auth_client.post(f"/api/challenges/{data['id']}/{action}", {}, format="json").status_code == 409

    settings.CHALLENGE_GENERATION_STALE_SECONDS = 0
    assert expire_overdue()["regenerated"] == 1
    challenge = Challenge.objects.get(pk=data["id"])
    assert challenge.status == "pending" and challenge.type == "puzzle"
    assert (challenge.ai_source, challenge.fallback_reason) == ("fallback", "stale")
    assert run_generation(challenge.pk).generated_at == challenge.generated_at  # a late worker changes nothing
