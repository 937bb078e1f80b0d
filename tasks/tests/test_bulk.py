"""Bulk task writes: `POST /api/tasks` with an array (per-item answers, one Idempotency-Key for
the batch) and `POST /api/tasks/bulk-update`: hostile bodies, foreign ids, replay, scopes,
effects identical to single writes, and query counts that do not grow with the batch."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from gamification.events import PointsAwarded
from kernel import events
from kernel.models import IdempotencyRecord, OutboxJob
from tasks.events import TaskCompleted, TaskCreated, TaskReopened
from tasks.models import Task, TaskStatus
from tasks.services import create_task

pytestmark = pytest.mark.django_db


def make(user, n=1, **fields):
    return [create_task(user, title=f"Task {i}", understand=False, **fields) for i in range(n)]


def post_many(client, items, **headers):
    return client.post("/api/tasks", items, format="json", **headers)


# --- bulk create ----------------------------------------------------------------------------------


def test_an_array_creates_each_item_and_answers_per_item_in_order(auth_client, user):
    with events.capture() as seen:
        response = post_many(
            auth_client,
            [{"title": "One", "priority": "high", "tags": ["a", "a", "b"]}, {"title": "Two", "dueDate": "2026-12-01"}],
        )
    assert response.status_code == 207, response.json()
    body = response.json()
    assert body["success"] is True
    one, two = body["data"]
    assert (one["index"], one["status"], two["index"], two["status"]) == (0, 201, 1, 201)
    assert one["data"]["title"] == "One" and one["data"]["priority"] == "high" and one["data"]["tags"] == ["a", "b"]
    assert two["data"]["dueDateOnly"] is True
    assert list(Task.objects.filter(user=user).order_by("title").values_list("title", flat=True)) == ["One", "Two"]
    created = [e for e in seen if isinstance(e, TaskCreated)]
    assert [e.task.title for e in created] == ["One", "Two"] and all(e.understand for e in created)
    # each task queued its understanding job, as a single create does
    assert OutboxJob.objects.filter(task="challenges.understand_task").count() == 2
    assert "Location" not in response


def test_a_single_object_keeps_answering_201_with_the_task(auth_client):
    response = auth_client.post("/api/tasks", {"title": "Alone"}, format="json")
    assert response.status_code == 201
    assert response.json()["data"]["title"] == "Alone" and response["Location"].startswith("/api/tasks/")


def test_one_invalid_item_among_valid_ones_is_reported_and_the_others_created(auth_client, user):
    response = post_many(
        auth_client,
        [{"title": "ok 1"}, {"title": "", "priority": "nope"}, {"title": "ok 2", "due_date": "2026-12-01"},
         {"title": "ok 3", "colour": "red"}, {"title": "ok 4"}],
    )
    assert response.status_code == 207
    items = response.json()["data"]
    assert [i["status"] for i in items] == [201, 400, 400, 400, 201]
    assert items[1]["code"] == "validation_error"
    assert items[1]["errorCodes"] == {"title": ["missing_field"], "priority": ["invalid_choice"]}
    assert items[2]["errorCodes"] == {"dueDate": ["wrong_case"]}  # the rules of a single body
    assert items[3]["errorCodes"] == {"colour": ["unknown_field"]}
    assert set(Task.objects.filter(user=user).values_list("title", flat=True)) == {"ok 1", "ok 4"}


@pytest.mark.parametrize(
    "item",
    [[{"title": "nested"}], [[[]]], "a string", 7, None, True],
)
def test_an_item_that_is_not_an_object_is_a_400_item(auth_client, user, item):
    response = post_many(auth_client, [item, {"title": "fine"}])
    assert response.status_code == 207
    bad, good = response.json()["data"]
    assert bad["status"] == 400 and bad["code"] == "validation_error" and "nonFieldErrors" in bad["errors"]
    assert good["status"] == 201
    assert Task.objects.filter(user=user).count() == 1


def test_more_than_100_items_or_an_empty_array_is_a_400_and_writes_nothing(auth_client, user):
    too_many = post_many(auth_client, [{"title": f"t{i}"} for i in range(101)])
    assert too_many.status_code == 400 and too_many.json()["code"] == "too_many_items"
    empty = post_many(auth_client, [])
    assert empty.status_code == 400 and empty.json()["code"] == "invalid_body"
    assert post_many(auth_client, [{"title": f"t{i}"} for i in range(100)]).status_code == 207
    assert Task.objects.filter(user=user).count() == 100


@pytest.mark.parametrize("raw", [b'"a string"', b"42", b"null", b"true"])
def test_a_body_neither_object_nor_array_is_a_400_invalid_body(auth_client, user, raw):
    response = auth_client.post("/api/tasks", raw, content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "invalid_body"
    assert not Task.objects.exists()


def test_a_duplicate_source_id_is_a_409_item_within_the_batch_and_against_existing(auth_client, user):
    make(user, source="github", source_id="gh-1")
    response = post_many(
        auth_client,
        [
            {"title": "dup of existing", "metadata": {"source": "github", "sourceId": "gh-1"}},
            {"title": "new", "metadata": {"source": "github", "sourceId": "gh-2"}},
            {"title": "dup in batch", "metadata": {"source": "github", "sourceId": "gh-2"}},
            {"title": "same id, other source", "metadata": {"source": "trello", "sourceId": "gh-2"}},
        ],
    )
    items = response.json()["data"]
    assert [i["status"] for i in items] == [409, 201, 409, 201]
    single = auth_client.post(
        "/api/tasks", {"title": "x", "metadata": {"source": "github", "sourceId": "gh-1"}}, format="json"
    ).json()
    assert items[0]["code"] == single["code"] and items[0]["errorCodes"] == single["errorCodes"]
    assert Task.objects.filter(user=user).count() == 3


def test_a_completed_item_is_completed_exactly_as_a_single_create_completes(auth_client, other_client, user):
    with events.capture() as seen:
        response = post_many(auth_client, [{"title": "done", "status": "completed"}, {"title": "open"}])
    done, still_open = response.json()["data"]
    assert done["data"]["status"] == "completed" and done["data"]["completionData"]["completedAt"]
    assert still_open["data"]["status"] == "pending"
    completed = [e for e in seen if isinstance(e, TaskCompleted)]
    assert [(e.task.title, e.source) for e in completed] == [("done", "create")]
    # the awards of a completion: what a single create with `status: completed` earns
    with events.capture() as single:
        other_client.post("/api/tasks", {"title": "done", "status": "completed"}, format="json")
    awards = [(e.entry.points, e.entry.reason) for e in seen if isinstance(e, PointsAwarded)]
    assert awards and awards == [(e.entry.points, e.entry.reason) for e in single if isinstance(e, PointsAwarded)]


def test_one_idempotency_key_covers_the_batch_and_replays_it(auth_client, user):
    items = [{"title": "a"}, {"title": ""}, {"title": "b"}]
    first = post_many(auth_client, items, HTTP_IDEMPOTENCY_KEY="batch-1")
    again = post_many(auth_client, items, HTTP_IDEMPOTENCY_KEY="batch-1")
    assert first.status_code == again.status_code == 207
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["data"] == first.json()["data"]
    assert Task.objects.filter(user=user).count() == 2
    assert IdempotencyRecord.objects.filter(user_id=user.pk, key="batch-1").count() == 1
    reused = post_many(auth_client, [*items, {"title": "c"}], HTTP_IDEMPOTENCY_KEY="batch-1")
    assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused"
    assert Task.objects.filter(user=user).count() == 2


@pytest.mark.parametrize("size", [5, 50])
def test_bulk_create_query_count_does_not_grow_with_the_batch(auth_client, user, django_assert_num_queries, size):
    post_many(auth_client, [{"title": "warm"}])  # the signed-in user comes from the auth cache
    items = [{"title": f"t{i}", "tags": ["x"], "metadata": {"source": "api", "sourceId": f"s{i}"}} for i in range(size)]
    # a savepoint pair, the (source, sourceId) check, one INSERT of the tasks (in its own
    # savepoint pair), one of the outbox rows (understanding, analytics), the user's webhook
    # endpoints (read once for the batch), the read-back
    with django_assert_num_queries(9):
        response = post_many(auth_client, items)
    assert [i["status"] for i in response.json()["data"]] == [201] * size


# --- bulk update ----------------------------------------------------------------------------------


def test_bulk_update_sets_fields_on_own_tasks_and_reports_foreign_and_unknown_ids(auth_client, user, other_user):
    mine = make(user, 2)
    [theirs] = make(other_user, priority="low")
    ids = [mine[1].pk, theirs.pk, "nope", mine[0].pk]
    before = {t.pk: t.updated_at for t in mine}
    response = auth_client.post(
        "/api/tasks/bulk-update", {"ids": ids, "set": {"priority": "high", "tags": ["x", "x"], "status": "in_progress"}},
        format="json",
    )
    assert response.status_code == 200, response.json()
    items = response.json()["data"]
    assert [(i["index"], i["id"], i["status"]) for i in items] == [
        (0, ids[0], 200), (1, ids[1], 404), (2, "nope", 404), (3, ids[3], 200)
    ]
    assert items[1]["code"] == "not_found" and "data" not in items[1]
    assert items[0]["data"]["priority"] == "high" and items[0]["data"]["tags"] == ["x"]
    for task in mine:
        task.refresh_from_db()
        assert (task.priority, task.tags, task.status) == ("high", ["x"], "in_progress")
        assert task.updated_at > before[task.pk]
    theirs.refresh_from_db()
    assert (theirs.priority, theirs.status) == ("low", "pending")  # never touched


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"ids": [], "set": {"priority": "high"}}, "ids"),
        ({"ids": ["a"] * 2, "set": {"priority": "high"}}, "ids"),
        ({"ids": [f"id{i}" for i in range(101)], "set": {"priority": "high"}}, "ids"),
        ({"ids": [["nested"]], "set": {"priority": "high"}}, "ids"),
        ({"ids": ["a"], "set": {}}, "set"),
        ({"ids": ["a"], "set": {"title": "no"}}, "set"),
        ({"ids": ["a"], "set": {"priority": "urgent-ish"}}, "set"),
        ({"ids": ["a"]}, "set"),
        ({"ids": "a", "set": {"priority": "high"}}, "ids"),
        ({"ids": ["a"], "set": {"priority": "high"}, "extra": 1}, "extra"),
    ],
)
def test_bulk_update_refuses_a_bad_body_with_400_and_touches_nothing(auth_client, user, payload, field):
    [task] = make(user)
    if payload.get("ids") == ["a"]:
        payload = {**payload, "ids": [task.pk]}
    response = auth_client.post("/api/tasks/bulk-update", payload, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "validation_error" and field in response.json()["errors"]
    task.refresh_from_db()
    assert task.priority == "medium"


def test_bulk_update_refuses_an_array_body(auth_client):
    response = auth_client.post("/api/tasks/bulk-update", [{"ids": ["a"]}], format="json")
    assert response.status_code == 400


def test_bulk_completion_and_reopening_are_exactly_those_of_a_patch(auth_client, user):
    open_task, done_task = make(user, 2)
    auth_client.post(f"/api/tasks/{done_task.pk}/complete", {}, format="json")
    with events.capture() as seen:
        response = auth_client.post(
            "/api/tasks/bulk-update", {"ids": [open_task.pk, done_task.pk], "set": {"status": "completed"}},
            format="json",
        )
    completes, already = response.json()["data"]
    assert completes["data"]["status"] == "completed" and completes["data"]["effects"]["pointsAwarded"] > 0
    assert "effects" not in already["data"]  # it was completed already: nothing happens, as with a PATCH
    assert [e.task.pk for e in seen if isinstance(e, TaskCompleted)] == [open_task.pk]
    with events.capture() as seen:
        response = auth_client.post(
            "/api/tasks/bulk-update", {"ids": [open_task.pk], "set": {"status": "pending"}}, format="json"
        )
    [reopened] = response.json()["data"]
    assert reopened["data"]["status"] == "pending" and reopened["data"]["effects"]["pointsAwarded"] < 0
    assert [e.task.pk for e in seen if isinstance(e, TaskReopened)] == [open_task.pk]


@pytest.mark.parametrize("size", [5, 50])
def test_bulk_update_query_count_does_not_grow_with_the_batch(auth_client, user, django_assert_num_queries, size):
    tasks = make(user, size)
    auth_client.get("/api/tasks?limit=1")
    # a savepoint pair, the locking SELECT, one UPDATE, the user's webhook endpoints (read once
    # for the batch's task.updated events), the read-back
    with django_assert_num_queries(6):
        response = auth_client.post(
            "/api/tasks/bulk-update", {"ids": [t.pk for t in tasks], "set": {"priority": "urgent"}}, format="json"
        )
    assert [i["status"] for i in response.json()["data"]] == [200] * size
    assert Task.objects.filter(user=user, priority="urgent").count() == size


# --- personal access tokens and the schema --------------------------------------------------------


def _token(auth_client, scopes):
    response = auth_client.post(
        "/api/tokens",
        {"name": "bulk", "scopes": scopes, "expiresAt": (timezone.now() + timedelta(days=3)).isoformat()},
        format="json",
    )
    assert response.status_code == 201, response.json()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['data']['token']}")
    return client


def test_bulk_writes_need_the_tasks_write_scope(auth_client, user):
    [task] = make(user)
    reader = _token(auth_client, ["tasks:read"])
    denied = post_many(reader, [{"title": "x"}])
    assert denied.status_code == 403 and denied.json()["code"] == "insufficient_scope"
    denied = reader.post("/api/tasks/bulk-update", {"ids": [task.pk], "set": {"priority": "high"}}, format="json")
    assert denied.status_code == 403 and denied.json()["errors"]["requiredScope"] == ["tasks:write"]
    writer = _token(auth_client, ["tasks:read", "tasks:write"])
    assert post_many(writer, [{"title": "x"}]).status_code == 207
    assert writer.post(
        "/api/tasks/bulk-update", {"ids": [task.pk], "set": {"priority": "high"}}, format="json"
    ).status_code == 200
    assert Task.objects.filter(user=user).count() == 2 and Task.objects.get(pk=task.pk).priority == "high"


def test_the_schema_documents_both_create_bodies_and_the_bulk_update(api_client):
    schema = api_client.get("/api/schema", HTTP_ACCEPT="application/json").json()
    create = schema["paths"]["/api/tasks"]["post"]
    body = create["requestBody"]["content"]["application/json"]["schema"]
    shapes = body.get("oneOf") or schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]["oneOf"]
    assert sorted(s.get("type", "object") for s in shapes) == ["array", "object"]
    assert "201" in create["responses"] and "207" in create["responses"]
    update = schema["paths"]["/api/tasks/bulk-update"]["post"]
    assert update["operationId"] == "tasksBulkUpdate" and update["x-required-scope"] == "tasks:write"
    assert TaskStatus.COMPLETED  # the enum the `set.status` accepts includes it: completion is allowed


def test_a_repeating_item_in_a_bulk_create_starts_its_series(auth_client, user):
    from datetime import UTC, datetime, timedelta

    due = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    response = post_many(auth_client, [
        {"title": "plain"},
        {"title": "daily", "dueDate": due, "recurrence": {"rule": "FREQ=DAILY", "anchor": "due"}},
        {"title": "bad rule", "dueDate": due, "recurrence": {"rule": "FREQ=SOMETIMES", "anchor": "due"}},
    ])
    assert response.status_code == 207, response.json()
    results = response.json()["data"]
    assert [r["status"] for r in results] == [201, 201, 400]
    assert results[1]["data"]["recurrence"]["rule"] == "FREQ=DAILY" and results[1]["data"]["occurrenceIndex"] == 0
    assert Task.objects.filter(user=user).count() == 2
