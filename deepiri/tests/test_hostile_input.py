"""Hostile bodies and parameters get a 4xx with field errors, never a 500: deep nesting, NUL and
control characters, out-of-range integers and date-times, duplicate unique keys."""

from __future__ import annotations

import json

import pytest

from kernel import jsonlimits
from kernel.api.casing import camelize, underscoreize
from kernel.api.pagination import MAX_SKIP

pytestmark = pytest.mark.django_db


def nested(depth: int, leaf=1):
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


# ------------------------------------------------------------------ depth
def test_a_small_body_nested_600_deep_is_a_400_without_login(api_client):
    body = "[" * 600 + "]" * 600
    assert len(body) <= 1200
    r = api_client.post("/api/auth/login", data=body, content_type="application/json")
    assert r.status_code == 400, r.content
    assert "nested deeper" in r.json()["message"]


def test_depth_limit_applies_before_key_conversion(auth_client):
    r = auth_client.post("/api/tasks", data=json.dumps({"title": "x", "deep": nested(33)}), content_type="application/json")
    assert r.status_code == 400
    r = auth_client.post("/api/tasks", data=json.dumps({"title": "x", "metadata": nested(30, "ok")}), content_type="application/json")
    assert r.status_code == 201  # within the depth limit: parsed and handled as usual


def test_key_conversion_does_not_recurse():
    deep = nested(5000)
    converted = camelize(underscoreize(deep))
    depth = 0
    while isinstance(converted, dict):
        converted = converted["a"]
        depth += 1
    assert depth == 5000 and converted == 1
    assert camelize({"tasks_by_type": {"google_docs": 1}, "a_b": [{"c_d": (1, 2)}]}) == {
        "tasksByType": {"google_docs": 1}, "aB": [{"cD": [1, 2]}]
    }


def test_jsonlimits_counts_depth_nodes_and_nul():
    jsonlimits.check(nested(32))
    with pytest.raises(jsonlimits.JSONLimitError) as exc:
        jsonlimits.check(nested(33))
    assert exc.value.code == "too_deep"
    with pytest.raises(jsonlimits.JSONLimitError) as exc:
        jsonlimits.check({"k": ["fine", "bad\x00"]})
    assert exc.value.code == "null_character"
    with pytest.raises(jsonlimits.JSONLimitError) as exc:
        jsonlimits.check(list(range(100)), max_nodes=50)
    assert exc.value.code == "too_large"
    with pytest.raises(ValueError):
        jsonlimits.loads("[" * 2000 + "]" * 2000)  # orjson's own limit, still a ValueError


def test_preferences_refuse_deep_and_huge_values(auth_client):
    r = auth_client.put("/api/users/preferences", {"workHours": nested(10)}, format="json")
    assert r.status_code == 400
    assert r.json()["errors"]["preferences"]
    r = auth_client.put("/api/users/preferences", {"workHours": {"mon": list(range(600))}}, format="json")
    assert r.status_code == 400
    r = auth_client.put("/api/users/preferences", {"workHours": {"start": "09:00", "end": "17:00"}}, format="json")
    assert r.status_code == 200


def test_a_deep_preference_stored_earlier_does_not_break_login(api_client, user, password):
    from accounts.models import User

    User.objects.filter(pk=user.pk).update(preferences={"theme": "dark", "work_hours": nested(260)})
    r = api_client.post("/api/auth/login", {"email": user.email, "password": password}, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["data"]["user"]["preferences"] == {"theme": "dark"}
    token = r.json()["data"]["token"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api_client.get("/api/users/profile").status_code == 200
    r = api_client.patch("/api/users/preferences", {"focusMode": True}, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["data"] == {"theme": "dark", "focusMode": True}


# ------------------------------------------------------------------ integers
@pytest.mark.parametrize(
    "path",
    ["/api/tasks", "/api/challenges", "/api/notifications", "/api/gamification/history", "/api/integrations"],
)
def test_paging_beyond_64_bits_is_a_400(auth_client, path):
    r = auth_client.get(path, {"skip": "9223372036854775808"})
    assert r.status_code == 400, (path, r.status_code, r.content[:300])
    assert "skip" in r.json()["errors"]
    assert auth_client.get(path, {"skip": str(MAX_SKIP)}).status_code == 200


# ------------------------------------------------------------------ NUL and control characters
def test_nul_in_query_path_and_body_is_a_400(auth_client, other_user):
    assert auth_client.get("/api/users/search", {"query": "al\x00ice"}).status_code == 400
    assert auth_client.get("/api/users/search", {"query": "al\x01ice"}).status_code == 400
    r = auth_client.get("/api/users/%00abc")
    assert r.status_code == 400 and r.json()["errors"]["path"]
    assert auth_client.delete("/api/users/friends/%00").status_code == 400
    r = auth_client.patch("/api/users/preferences", {"language": "e\x00n"}, format="json")
    assert r.status_code == 400
    r = auth_client.post("/api/tasks", {"title": "ok", "description": "a\x00b"}, format="json")
    assert r.status_code == 400
    # the ordinary ones still pass
    assert auth_client.get("/api/users/search", {"query": "Bob"}).status_code == 200
    assert auth_client.get(f"/api/users/{other_user.pk}").status_code == 200


def test_nul_on_admin_pages_is_a_400_not_a_500(client, staff_user):
    client.force_login(staff_user)
    r = client.get("/admin/accounts/user/", {"q": "a\x00b"})
    assert r.status_code == 400


# ------------------------------------------------------------------ date-times
@pytest.mark.parametrize(
    "value",
    ["2026-12-01T10:00:00+20:21", "2026-12-01T10:00:00-14:01", "0001-01-01T00:00:00+01:00",
     "9999-12-31T23:00:00-05:00", "3000-01-01", "1899-12-31T00:00:00Z"],
)
def test_out_of_range_date_times_are_refused(auth_client, value):
    r = auth_client.post("/api/tasks", {"title": "t", "dueDate": value}, format="json")
    assert r.status_code == 400, (value, r.content)
    assert "dueDate" in r.json()["errors"]
    r = auth_client.get("/api/tasks", {"dueBefore": value})
    assert r.status_code == 400, (value, r.content)


def test_date_times_are_stored_in_utc(auth_client):
    from tasks.models import Task

    r = auth_client.post("/api/tasks", {"title": "t", "dueDate": "2026-12-01T10:00:00+14:00"}, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["data"]["dueDate"].startswith("2026-11-30T20:00:00")
    task = Task.objects.get(pk=r.json()["data"]["_id"])
    assert task.due_date.utcoffset().total_seconds() == 0
    r = auth_client.get("/api/tasks", {"dueBefore": "2026-12-01T10:00:00+14:00"})
    assert r.status_code == 200 and len(r.json()["data"]) == 1


def test_out_of_range_integers_are_refused(auth_client):
    r = auth_client.post("/api/tasks", {"title": "t", "estimatedDuration": 2**63}, format="json")
    assert r.status_code == 400
    r = auth_client.patch("/api/users/preferences", {"dailyGoal": 2**64}, format="json")
    assert r.status_code == 400


# ------------------------------------------------------------------ unique constraints
def test_duplicate_source_id_is_a_409_with_field_errors(auth_client, other_client):
    meta = {"source": "github", "sourceId": "issue-1"}
    r = auth_client.post("/api/tasks", {"title": "a", "metadata": meta}, format="json")
    assert r.status_code == 201
    r = auth_client.post("/api/tasks", {"title": "b", "metadata": meta}, format="json")
    assert r.status_code == 409, r.content
    assert r.json()["errors"]["metadata"]["sourceId"]
    other = auth_client.post("/api/tasks", {"title": "c", "metadata": {"source": "github", "sourceId": "issue-2"}}, format="json")
    task_id = other.json()["data"]["_id"]
    r = auth_client.patch(f"/api/tasks/{task_id}", {"metadata": meta}, format="json")
    assert r.status_code == 409
    r = auth_client.put(f"/api/tasks/{task_id}", {"title": "c", "metadata": meta}, format="json")
    assert r.status_code == 409
    # another user may use the same source id
    assert other_client.post("/api/tasks", {"title": "a", "metadata": meta}, format="json").status_code == 201


def test_a_token_that_cannot_be_a_header_is_a_400(auth_client):
    r = auth_client.post(
        "/api/integrations/connect", {"service": "github", "credentials": {"accessToken": "t\u00f6k\u20acn"}}, format="json"
    )
    assert r.status_code == 400, r.content
    assert r.json()["errors"]["credentials"]
