"""/api/tasks over REST: CRUD, filters, ordering, pagination, bad input, scoping, query counts."""

from __future__ import annotations

import pytest

from kernel import events
from tasks.models import Task
from tasks.services import create_task

pytestmark = pytest.mark.django_db

# Most tests run inside a rolled-back transaction, where after-commit work (task understanding
# on Celery) does not fire; the few that check it commit for real.
committing = pytest.mark.django_db(transaction=True)


def make(user, n=1, **fields):
    out = []
    for i in range(n):
        data = {"title": f"Task {i}", "understand": False, **fields}
        out.append(create_task(user, **data))
    return out


def body(response):
    return response.json()


# --- create -----------------------------------------------------------------------------------


@committing
def test_create_returns_201_with_the_api_shape(auth_client, user):
    response = auth_client.post(
        "/api/tasks",
        {
            "title": "  Read chapter 5 of the algorithms book ",
            "description": "Take notes on graphs",
            "priority": "high",
            "estimatedDuration": 45,
            "tags": ["school", "school", "cs"],
            "dueDate": "2030-01-15T10:00:00Z",
            "metadata": {"sourceId": "abc", "sourceUrl": "https://example.com/x"},
        },
        format="json",
    )
    assert response.status_code == 201, body(response)
    data = body(response)["data"]
    assert data["_id"] == data["id"] and len(data["id"]) == 24
    assert data["title"] == "Read chapter 5 of the algorithms book"
    assert data["type"] == "study"  # understanding ran (inline Celery): the user did not choose a type
    assert data["classification"]["type"] == "study"
    assert data["classification"]["source"] == "fallback"
    assert data["status"] == "pending" and data["priority"] == "high"
    assert data["tags"] == ["school", "cs"]
    assert data["dueDate"] == "2030-01-15T10:00:00Z" and data["dueDateOnly"] is False
    assert data["metadata"] == {"source": "manual", "sourceId": "abc", "sourceUrl": "https://example.com/x"}
    assert data["completionData"] is None and data["challengeId"] is None
    assert set(data) >= {"createdAt", "updatedAt", "estimatedDuration"}
    assert Task.objects.get(pk=data["id"]).user == user


@committing
def test_understanding_never_overrides_the_users_type(auth_client):
    response = auth_client.post("/api/tasks", {"title": "Implement the login API", "type": "creative"}, format="json")
    data = body(response)["data"]
    assert data["classification"]["type"] == "code"
    assert data["type"] == "creative"


def test_date_only_due_date_is_end_of_day_in_the_users_zone(make_user, client_factory):
    client = client_factory(make_user(timezone="America/New_York"))
    data = body(client.post("/api/tasks", {"title": "Taxes", "dueDate": "2030-04-15"}, format="json"))["data"]
    assert data["dueDateOnly"] is True
    assert data["dueDate"] == "2030-04-16T03:59:59Z"  # 23:59:59 EDT


def test_server_set_fields_cannot_be_written(auth_client, other_user):
    # The task's own read-only fields (as a client read them) are accepted and ignored...
    response = auth_client.post(
        "/api/tasks",
        {
            "title": "Sneaky",
            "id": "a" * 24,
            "completionData": {"efficiency": 100},
            "classification": {"type": "code"},
            "challengeId": "b" * 24,
            "createdAt": "2000-01-01T00:00:00Z",
        },
        format="json",
    )
    assert response.status_code == 201
    task = Task.objects.get(pk=body(response)["data"]["id"])
    assert task.user_id != other_user.pk
    assert task.pk != "a" * 24
    assert task.completed_at is None and task.efficiency is None
    assert body(response)["data"]["challengeId"] is None
    assert task.created_at.year > 2000
    # ...while fields a task does not have (an owner) are refused, each named, and nothing is written.
    before = Task.objects.count()
    refused = auth_client.post(
        "/api/tasks", {"title": "Sneaky", "userId": other_user.pk, "user": other_user.pk, "foo": 1}, format="json"
    )
    assert refused.status_code == 400
    assert set(body(refused)["errors"]) == {"userId", "user", "foo"}
    assert Task.objects.count() == before


def test_input_is_camel_case_only(auth_client):
    refused = auth_client.post("/api/tasks", {"title": "x", "due_date": "2026-01-01"}, format="json")
    assert refused.status_code == 400
    assert body(refused)["errors"]["dueDate"] == ["Keys are camelCase: send `dueDate`."]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "ok", "description": "x" * 2001}, "description"),
        ({"title": "ok", "type": "dance"}, "type"),
        ({"title": "ok", "status": "done"}, "status"),
        ({"title": "ok", "priority": "critical"}, "priority"),
        ({"title": "ok", "estimatedDuration": 0}, "estimatedDuration"),
        ({"title": "ok", "estimatedDuration": -5}, "estimatedDuration"),
        ({"title": "ok", "estimatedDuration": "soon"}, "estimatedDuration"),
        ({"title": "ok", "dueDate": "next tuesday"}, "dueDate"),
        ({"title": "ok", "dueDate": "2030-02-30"}, "dueDate"),
        ({"title": "ok", "dueDate": 12345}, "dueDate"),
        ({"title": "ok", "tags": "notalist"}, "tags"),
        ({"title": "ok", "tags": ["x" * 51]}, "tags"),
        ({"title": "ok", "tags": [f"t{i}" for i in range(21)]}, "tags"),
        ({"title": "ok", "metadata": {"sourceUrl": "not a url"}}, "metadata"),
        ({"title": "ok", "metadata": {"source": "myspace"}}, "metadata"),
    ],
)
def test_bad_input_is_a_400_with_the_field_named(auth_client, payload, field):
    response = auth_client.post("/api/tasks", payload, format="json")
    assert response.status_code == 400, body(response)
    err = body(response)
    assert err["success"] is False and err["requestId"]
    assert field in err["errors"], err
    assert Task.objects.count() == 0


def test_malformed_json_is_a_400(auth_client):
    response = auth_client.generic("POST", "/api/tasks", "{not json", content_type="application/json")
    assert response.status_code == 400


def test_unauthenticated_is_401(api_client):
    assert api_client.get("/api/tasks").status_code == 401
    assert api_client.post("/api/tasks", {"title": "x"}, format="json").status_code == 401


# --- read, list -----------------------------------------------------------------------------


def test_list_filters(auth_client, user, other_user):
    a = create_task(user, title="Fix login bug", type="code", priority="urgent", tags=["work", "auth"],
                    due_date="2030-01-01T00:00:00Z", understand=False)
    b = create_task(user, title="Read book", description="about graphs", type="study", status="in_progress", priority="high",
                    tags=["home"], due_date="2030-06-01T00:00:00Z", source="notion", source_id="n1", understand=False)
    c = create_task(user, title="Groceries", understand=False)
    create_task(other_user, title="Fix login bug of Bob", type="code", understand=False)

    def ids(query):
        response = auth_client.get(f"/api/tasks{query}")
        assert response.status_code == 200, body(response)
        return [t["id"] for t in body(response)["data"]]

    assert ids("") == [c.pk, b.pk, a.pk]  # newest first, only mine
    assert ids("?type=code") == [a.pk]
    assert ids("?status=in_progress") == [b.pk]
    assert ids("?priority=urgent") == [a.pk]
    assert ids("?tag=home") == [b.pk]
    assert ids("?tag=auth") == [a.pk]
    assert ids("?tag=nope") == []
    assert ids("?search=GRAPHS") == [b.pk]
    assert ids("?search=login") == [a.pk]
    assert ids("?dueBefore=2030-03-01") == [a.pk]
    assert ids("?dueAfter=2030-03-01T00:00:00Z") == [b.pk]
    assert ids("?source=notion") == [b.pk]
    assert ids("?ordering=dueDate") == [a.pk, b.pk, c.pk]  # no due date: last
    assert ids("?ordering=-dueDate") == [b.pk, a.pk, c.pk]
    assert ids("?ordering=title") == [a.pk, c.pk, b.pk]
    assert ids("?ordering=-title") == [b.pk, c.pk, a.pk]
    assert ids("?ordering=priority") == [c.pk, b.pk, a.pk]  # medium < high < urgent, not alphabetical
    assert ids("?ordering=-priority") == [a.pk, b.pk, c.pk]


@pytest.mark.parametrize(
    "query", ["?status=done", "?type=dance", "?priority=high!", "?dueBefore=yesterday", "?ordering=password",
              "?limit=0", "?limit=x", "?skip=-1", "?skip=9223372036854775808"]
)
def test_bad_list_parameters_are_a_400(auth_client, query):
    response = auth_client.get(f"/api/tasks{query}")
    assert response.status_code == 400, body(response)
    assert body(response)["errors"]


def test_a_limit_above_the_maximum_is_capped_and_next_links_the_following_page(auth_client):
    for n in range(3):
        assert auth_client.post("/api/tasks", {"title": f"t{n}"}, format="json").status_code == 201
    capped = auth_client.get("/api/tasks?limit=1000").json()
    assert capped["pagination"]["limit"] == 100 and capped["pagination"]["next"] is None
    first = auth_client.get("/api/tasks?limit=2&status=pending").json()
    assert len(first["data"]) == 2 and first["pagination"]["hasMore"] is True
    assert first["pagination"]["next"] == "/api/tasks?limit=2&skip=2&status=pending"
    rest = auth_client.get(first["pagination"]["next"]).json()
    assert len(rest["data"]) == 1 and rest["pagination"]["next"] is None
    assert {t["id"] for t in first["data"]}.isdisjoint({t["id"] for t in rest["data"]})


def test_pagination(auth_client, user):
    make(user, 7)
    data = body(auth_client.get("/api/tasks?limit=3&skip=2"))
    assert len(data["data"]) == 3
    assert data["pagination"] == {
        "total": 7, "limit": 3, "skip": 2, "hasMore": True, "next": "/api/tasks?limit=3&skip=5",
        "nextCursor": data["pagination"]["nextCursor"],
    }
    assert data["pagination"]["nextCursor"]
    data = body(auth_client.get("/api/tasks?limit=3&skip=6"))
    assert len(data["data"]) == 1 and data["pagination"]["hasMore"] is False
    data = body(auth_client.get("/api/tasks?skip=50"))  # past the end
    assert data["data"] == [] and data["pagination"]["total"] == 7
    data = body(auth_client.get("/api/tasks?search=nothing-matches"))
    assert data["data"] == [] and data["pagination"]["total"] == 0


@pytest.mark.parametrize("limit", [10, 100])
def test_list_query_count_is_constant(auth_client, user, django_assert_num_queries, limit):
    make(user, 100, tags=["a"], description="d")
    auth_client.get("/api/tasks?limit=1")
    # one query for the page and its total (COUNT(*) OVER ()); the signed-in user comes from the
    # auth cache (warmed by the request above)
    with django_assert_num_queries(1):
        response = auth_client.get(f"/api/tasks?limit={limit}")
    assert len(body(response)["data"]) == limit


def test_another_users_task_is_404_on_every_route(auth_client, other_user):
    [task] = make(other_user)
    base = f"/api/tasks/{task.pk}"
    assert auth_client.get(base).status_code == 404
    assert auth_client.patch(base, {"title": "mine"}, format="json").status_code == 404
    assert auth_client.put(base, {"title": "mine"}, format="json").status_code == 404
    assert auth_client.delete(base).status_code == 404
    assert auth_client.post(f"{base}/complete", {}, format="json").status_code == 404
    assert auth_client.post(f"{base}/reopen", {}, format="json").status_code == 404
    assert auth_client.get("/api/tasks/not-an-id").status_code == 404
    assert auth_client.get("/api/tasks/" + "f" * 24).status_code == 404
    task.refresh_from_db()
    assert task.title == "Task 0" and task.status == "pending"


# --- update, delete ---------------------------------------------------------------------------


def test_patch_and_put(auth_client, user):
    [task] = make(user, description="keep me")
    response = auth_client.patch(f"/api/tasks/{task.pk}", {"priority": "low", "dueDate": None}, format="json")
    assert response.status_code == 200
    data = body(response)["data"]
    assert data["priority"] == "low" and data["description"] == "keep me"
    assert "effects" not in data
    assert auth_client.patch(f"/api/tasks/{task.pk}", {"title": ""}, format="json").status_code == 400
    assert auth_client.put(f"/api/tasks/{task.pk}", {"priority": "high"}, format="json").status_code == 400
    response = auth_client.put(f"/api/tasks/{task.pk}/", {"title": "Renamed", "type": "admin"}, format="json")
    assert response.status_code == 200
    task.refresh_from_db()
    # PUT replaces: what it leaves out takes the create defaults again
    assert (task.title, task.type, task.priority, task.description) == ("Renamed", "admin", "medium", "")
    assert "type" in task.user_set_fields


def test_patch_status_completed_goes_through_complete_task(auth_client, user):
    [task] = make(user, estimated_duration=30)
    with events.capture() as seen:
        response = auth_client.patch(f"/api/tasks/{task.pk}", {"status": "completed"}, format="json")
    assert response.status_code == 200
    data = body(response)["data"]
    assert data["status"] == "completed"
    assert data["completionData"]["completedAt"]
    assert "effects" in data
    assert [e.name for e in seen].count("task.completed") == 1
    # moving it back reopens (task.reopened, from the update), and the update's final state is
    # task.updated; the completion above was task.completed alone
    assert "task.updated" not in [e.name for e in seen]
    with events.capture() as seen:
        response = auth_client.patch(f"/api/tasks/{task.pk}", {"status": "in_progress"}, format="json")
    assert body(response)["data"]["status"] == "in_progress"
    assert body(response)["data"]["completionData"] is None
    assert [e.name for e in seen if e.name.startswith("task.")] == ["task.reopened", "task.updated"]
    assert next(e for e in seen if e.name == "task.reopened").source == "update"


def test_delete_removes_its_challenges(auth_client, user):
    from challenges.models import Challenge
    from challenges.services import request_generation, run_generation

    [task] = make(user)
    run_generation(request_generation(user, task).pk)
    assert Challenge.objects.filter(task=task, status="pending").count() == 1
    response = auth_client.delete(f"/api/tasks/{task.pk}")
    assert response.status_code == 200
    assert body(response)["message"] == "Task deleted successfully"
    assert not Task.objects.filter(pk=task.pk).exists()
    assert Challenge.objects.count() == 0
    assert auth_client.delete(f"/api/tasks/{task.pk}").status_code == 404


# --- complete, reopen ---------------------------------------------------------------------------


def test_complete_sets_completion_data_and_emits_once(auth_client, user):
    [task] = make(user, estimated_duration=30)
    with events.capture() as seen:
        response = auth_client.post(
            f"/api/tasks/{task.pk}/complete", {"actualDuration": 60, "notes": "took a while"}, format="json"
        )
    assert response.status_code == 200
    data = body(response)["data"]
    assert data["status"] == "completed"
    assert data["completionData"]["actualDuration"] == 60
    assert data["completionData"]["efficiency"] == 50.0
    assert data["completionData"]["notes"] == "took a while"
    assert set(data["effects"]) >= {"pointsAwarded", "xpAwarded", "breakdown", "badgesAwarded"}
    completed = [e for e in seen if e.name == "task.completed"]
    assert len(completed) == 1
    assert completed[0].efficiency == 50.0 and completed[0].actual_duration == 60

    # a repeat: same task, nothing new
    with events.capture() as seen:
        again = auth_client.post(f"/api/tasks/{task.pk}/complete", {"actualDuration": 5}, format="json")
    assert again.status_code == 200
    assert body(again)["data"]["completionData"] == data["completionData"]
    assert body(again)["data"]["effects"]["pointsAwarded"] == 0
    assert seen == []


@pytest.mark.parametrize(("estimated", "actual", "efficiency"), [(30, 15, 100.0), (30, 30, 100.0), (10, 40, 25.0),
                                                                 (None, 40, None), (30, None, None)])
def test_efficiency_is_clamped(auth_client, user, estimated, actual, efficiency):
    [task] = make(user, estimated_duration=estimated)
    payload = {} if actual is None else {"actualDuration": actual}
    data = body(auth_client.post(f"/api/tasks/{task.pk}/complete", payload, format="json"))["data"]
    assert data["completionData"]["efficiency"] == efficiency


@pytest.mark.parametrize("payload", [{"actualDuration": 0}, {"actualDuration": -3}, {"actualDuration": "long"},
                                     {"notes": "x" * 2001}])
def test_complete_bad_input(auth_client, user, payload):
    [task] = make(user)
    response = auth_client.post(f"/api/tasks/{task.pk}/complete", payload, format="json")
    assert response.status_code == 400
    task.refresh_from_db()
    assert task.status == "pending"


def test_reopen(auth_client, user):
    [task] = make(user, estimated_duration=30)
    auth_client.post(f"/api/tasks/{task.pk}/complete", {"actualDuration": 30}, format="json")
    with events.capture() as seen:
        response = auth_client.post(f"/api/tasks/{task.pk}/reopen")
    assert response.status_code == 200
    data = body(response)["data"]
    assert data["status"] == "pending" and data["completionData"] is None
    assert "effects" in data
    [event] = [e for e in seen if e.name.startswith("task.")]
    assert event.name == "task.reopened" and event.previous_completed_at is not None
    with events.capture() as seen:  # reopening an open task changes nothing
        assert auth_client.post(f"/api/tasks/{task.pk}/reopen").status_code == 200
    assert seen == []


def test_create_completed_goes_through_complete_task(auth_client):
    with events.capture() as seen:
        response = auth_client.post("/api/tasks", {"title": "Done already", "status": "completed"}, format="json")
    assert response.status_code == 201
    assert body(response)["data"]["status"] == "completed"
    assert [e.name for e in seen if e.name.startswith("task.")] == ["task.created", "task.completed"]


@pytest.mark.parametrize(
    "fields",
    [{"title": ""}, {"title": "x" * 201}, {"title": "ok", "description": "x" * 2001}, {"title": "ok", "type": "dance"},
     {"title": "ok", "tags": "nope"}, {"title": "ok", "tags": [""]}, {"title": "ok", "estimated_duration": 0},
     {"title": "ok", "source_url": "not a url"}],
)
def test_service_callers_get_the_same_validation(user, fields):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        create_task(user, understand=False, **fields)
    assert Task.objects.count() == 0


def test_update_by_service_callers_is_validated_too(user):
    from django.core.exceptions import ValidationError

    from tasks.services import update_task

    [task] = make(user)
    with pytest.raises(ValidationError):
        update_task(user, task, {"title": "x" * 201})
    task.refresh_from_db()
    assert task.title == "Task 0"


def test_each_listed_task_carries_its_own_latest_challenge(auth_client, other_client, user, other_user):
    """`challengeId` is one subquery expression, built once and shared by every list query: each
    page, each user, reads its own tasks' latest challenge through it."""
    from challenges.models import Challenge

    first, second = make(user, 2)
    (foreign,) = make(other_user)

    def challenge(task):
        return Challenge.objects.create(user=task.user, task=task, type="quiz", title="Q").pk

    def listed(client):
        return {t["id"]: t["challengeId"] for t in body(client.get("/api/tasks"))["data"]}

    assert listed(auth_client) == {first.pk: None, second.pk: None}
    challenge(first)
    newest = challenge(first)
    other = challenge(foreign)
    assert listed(auth_client) == {first.pk: newest, second.pk: None}
    assert listed(other_client) == {foreign.pk: other}
    latest_second = challenge(second)
    assert listed(auth_client) == {first.pk: newest, second.pk: latest_second}


def test_list_rows_equal_the_detail_shape(auth_client, user):
    task = create_task(user, title="Ship", tags=["a"], due_date="2030-01-01T00:00:00Z", estimated_duration=20,
                       understand=False)
    from challenges.services import understand_task
    from tasks.services import complete_task

    understand_task(task.pk)
    complete_task(user, task, actual_duration=10, notes="done")
    [row] = body(auth_client.get("/api/tasks"))["data"]
    detail = body(auth_client.get(f"/api/tasks/{task.pk}"))["data"]
    assert row == detail
    assert row["classification"]["estimatedDuration"] == 20 and row["completionData"]["efficiency"] == 100.0
    assert "due_date" not in row and "dueDate" in row


def test_a_listed_task_is_byte_for_byte_the_task_read_alone(auth_client, user):
    """The list hands date-times to the encoder as they come from the database; the one-task
    answer formats them in Python. Both must write the same bytes."""
    created = auth_client.post(
        "/api/tasks", {"title": "Dated", "dueDate": "2026-12-01T09:30:00.000120+02:00"}, format="json"
    ).json()["data"]
    auth_client.post(f"/api/tasks/{created['id']}/complete", {}, format="json")
    Task.objects.create(user=user, title="Round second")  # a time with no fraction would drop it
    Task.objects.filter(title="Round second").update(created_at="2026-11-30T12:00:00Z", due_date="2026-12-02T00:00:00Z")
    listed = {t["id"]: t for t in auth_client.get("/api/tasks").json()["data"]}
    assert len(listed) == 2
    for task_id, row in listed.items():
        alone = auth_client.get(f"/api/tasks/{task_id}").json()["data"]
        assert row == alone
    row = listed[created["id"]]
    assert row["dueDate"] == "2026-12-01T07:30:00.000120Z" and row["completionData"]["completedAt"].endswith("Z")
    assert any(r["createdAt"] == "2026-11-30T12:00:00Z" and r["dueDate"] == "2026-12-02T00:00:00Z" for r in listed.values())
