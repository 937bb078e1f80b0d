"""The contract a client generates from: canonical paths, error codes, version and limit headers,
and a schema that says what the wire carries."""

from __future__ import annotations

import pytest
from django.conf import settings

from devtools.testing.daphne import _daphne_process, daphne_server  # noqa: F401


@pytest.mark.django_db
def test_a_trailing_slash_reaches_the_same_route(auth_client, api_client, password, user):
    assert auth_client.get("/api/tasks/").status_code == 200
    assert auth_client.get("/api/users/profile/").status_code == 200
    login = api_client.post("/api/auth/login/", {"email": user.email, "password": password}, format="json")
    assert login.status_code == 200, login.content


@pytest.mark.django_db
def test_every_api_answer_names_the_contract_version(auth_client, api_client):
    assert auth_client.get("/api/tasks").headers["API-Version"] == settings.API_VERSION
    assert api_client.get("/api/tasks").headers["API-Version"] == settings.API_VERSION  # 401 too
    assert api_client.get("/api/no-such-route").headers["API-Version"] == settings.API_VERSION


@pytest.mark.django_db
def test_errors_carry_a_stable_code_and_a_404_names_the_resource(auth_client, api_client):
    missing = auth_client.get("/api/tasks/000000000000000000000000").json()
    assert missing["code"] == "not_found" and missing["message"] == "Task not found."
    assert api_client.get("/api/tasks").json()["code"] == "not_authenticated"
    invalid = auth_client.post("/api/tasks", {}, format="json").json()
    assert invalid["code"] == "validation_error" and "title" in invalid["errors"]
    route = api_client.get("/api/no-such-route").json()
    assert route["code"] == "route_not_found"
    bad_json = auth_client.generic("POST", "/api/tasks", "{not json", content_type="application/json").json()
    assert bad_json["code"] == "invalid_json"


@pytest.mark.django_db
def test_throttled_routes_show_their_limits_before_the_429(api_client, user):
    rate = int(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["login_email"].split("/")[0])
    seen = []
    for _ in range(rate + 1):
        res = api_client.post("/api/auth/login", {"email": user.email, "password": "wrong-password"}, format="json")
        seen.append((res.status_code, res.headers.get("RateLimit-Limit"), res.headers.get("RateLimit-Remaining")))
    assert seen[:rate] == [(401, str(rate), str(rate - n)) for n in range(1, rate + 1)], seen
    assert seen[rate][0] == 429 and seen[rate][2] == "0"
    last = api_client.post("/api/auth/login", {"email": user.email, "password": "x"}, format="json")
    assert last.json()["code"] == "rate_limited" and int(last.headers["Retry-After"]) >= 1
    assert last.reason_phrase == "Too Many Requests"
    assert int(last.headers["RateLimit-Reset"]) >= 1


@pytest.mark.django_db
def test_general_limits_are_visible_on_every_authenticated_answer(auth_client):
    res = auth_client.get("/api/tasks")
    limit = int(res.headers["RateLimit-Limit"])
    remaining = int(res.headers["RateLimit-Remaining"])
    assert limit >= 1 and 0 <= remaining < limit
    assert int(auth_client.get("/api/tasks").headers["RateLimit-Remaining"]) == remaining - 1


@pytest.mark.django_db
def test_the_schema_lists_canonical_paths_real_ids_and_every_error_status(api_client):
    schema = api_client.get("/api/schema", {"format": "json"}).json()
    assert schema["info"]["version"] == settings.API_VERSION
    paths = schema["paths"]
    assert all(not p.endswith("/") for p in paths if p.startswith("/api/")), [p for p in paths if p.endswith("/")]
    task = schema["components"]["schemas"]["Task"]
    assert "_id" in task["properties"] and "Id" not in task["properties"]
    listing = paths["/api/tasks"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert listing == {"$ref": "#/components/schemas/PaginatedTaskList"}  # not wrapped twice
    page = schema["components"]["schemas"]["PaginatedTaskList"]
    assert set(page["properties"]) == {"success", "data", "pagination"}
    detail = paths["/api/tasks/{id}"]["get"]["responses"]
    assert {"400", "401", "403", "404", "429", "503"} <= set(detail)
    assert schema["components"]["schemas"]["Error"]["required"] == ["success", "code", "message"]


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_daphne_sends_the_standard_reason_phrase_for_429(daphne_server, user):  # noqa: F811
    import http.client
    import json

    rate = int(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["login_email"].split("/")[0])
    body = json.dumps({"email": user.email, "password": "wrong-password"})
    statuses = []
    for _ in range(rate + 1):
        conn = http.client.HTTPConnection("127.0.0.1", daphne_server.port, timeout=10)
        conn.request("POST", "/api/auth/login", body, {"Content-Type": "application/json", "Host": "localhost"})
        res = conn.getresponse()
        res.read()
        statuses.append((res.status, res.reason))
        conn.close()
    assert statuses[-1] == (429, "Too Many Requests"), statuses


@pytest.mark.django_db
def test_choice_errors_list_the_allowed_values_in_bodies_and_filters(auth_client):
    body = auth_client.post("/api/tasks", {"title": "x", "status": "done", "priority": "huge"}, format="json").json()
    assert body["errors"]["status"] == [
        '"done" is not a valid choice. Valid choices: pending, in_progress, completed, cancelled.'
    ]
    assert "Valid choices: low, medium, high, urgent." in body["errors"]["priority"][0]  # every field at once
    query = auth_client.get("/api/tasks?status=done").json()
    assert query["errors"]["status"] == [
        "done is not a valid choice. Valid choices: pending, in_progress, completed, cancelled."
    ]
    ordering = auth_client.get("/api/tasks?ordering=password").json()["errors"]["ordering"][0]
    assert "createdAt" in ordering and "-dueDate" in ordering


@pytest.mark.django_db
def test_catalogue_lists_are_paginated_like_every_other_list(auth_client):
    for url in ("/api/gamification/badges", "/api/analytics?days=3", "/api/integrations/providers", "/api/integrations",
                "/api/users/friends", "/api/users/search?query=zz"):
        body = auth_client.get(url).json()
        assert set(body["pagination"]) == {"total", "limit", "skip", "hasMore", "next", "nextCursor"}, url
        assert len(body["data"]) == min(body["pagination"]["total"], body["pagination"]["limit"]), url
    badges = auth_client.get("/api/gamification/badges?limit=2").json()
    assert len(badges["data"]) == 2 and badges["pagination"]["next"] == "/api/gamification/badges?limit=2&skip=2"


def _datetimes(value, path=""):
    """Every string in a payload that looks like a date-time (a date with a time part)."""
    import re

    if isinstance(value, dict):
        for k, v in value.items():
            yield from _datetimes(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _datetimes(v, f"{path}[{i}]")
    elif isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?([+-]\d\d:\d\d|Z)?", value):
        yield path, value


@pytest.mark.django_db
def test_every_date_time_out_is_utc_with_z_for_a_user_in_another_zone(make_user, api_client):
    from django.utils import timezone

    from notifications.models import Notification
    from notifications.serializers import NotificationSerializer

    user = make_user(timezone="America/New_York")
    api_client.force_authenticate(user)
    task = api_client.post("/api/tasks", {"title": "zone", "dueDate": "2026-12-01T09:00:00"}, format="json").json()
    done = api_client.post(f"/api/tasks/{task['data']['id']}/complete", {}, format="json").json()
    seen = []
    for url in ("/api/tasks", "/api/notifications", "/api/gamification/history", "/api/gamification/badges",
                "/api/users/export"):
        seen += list(_datetimes(api_client.get(url).json(), url))
    seen += list(_datetimes(done, "complete"))
    assert seen, "the payloads carry date-times"
    assert all(v.endswith("Z") for _p, v in seen), [s for s in seen if not s[1].endswith("Z")]
    assert task["data"]["dueDate"] == "2026-12-01T14:00:00Z"  # naive input read in the user's zone
    # What the socket publisher builds while the request's zone is active is UTC too.
    stored = Notification.objects.create(user=user, type=Notification._meta.get_field("type").choices[0][0], title="t")
    with timezone.override("America/New_York"):
        payload = NotificationSerializer(stored).data
    assert payload["timestamp"].endswith("Z") and payload["created_at"].endswith("Z")


@pytest.mark.django_db
def test_message_only_answers_and_deletes_are_documented_as_sent(auth_client, api_client):
    schema = api_client.get("/api/schema", {"format": "json"}).json()
    delete = schema["paths"]["/api/tasks/{id}"]["delete"]["responses"]
    assert "204" not in delete
    assert delete["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/MessageResponse"}
    task = auth_client.post("/api/tasks", {"title": "gone"}, format="json").json()["data"]
    answer = auth_client.delete(f"/api/tasks/{task['id']}")
    assert answer.status_code == 200 and set(answer.json()) == {"success", "message"}


@pytest.mark.django_db
def test_registration_reports_every_field_error_at_once(api_client):
    body = api_client.post(
        "/api/auth/register", {"name": "", "email": "bad", "password": "short"}, format="json"
    ).json()
    assert body["code"] == "validation_error"
    assert {"name", "email", "password"} <= set(body["errors"]), body["errors"]


@pytest.mark.django_db
def test_creates_that_honour_idempotency_keys_document_the_header(api_client):
    schema = api_client.get("/api/schema", {"format": "json"}).json()
    for path in ("/api/tasks", "/api/challenges/generate", "/api/integrations/connect",
                 "/api/challenges/{challenge_id}/sessions"):
        operation = schema["paths"][path]["post"]
        assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in operation["parameters"]), path
        assert "422" in operation["responses"], path
    assert "Idempotency-Key" not in str(schema["paths"]["/api/tasks"]["get"].get("parameters", []))


@pytest.mark.django_db
def test_the_main_resources_carry_an_example_of_their_wire_shape(api_client):
    components = api_client.get("/api/schema", {"format": "json"}).json()["components"]["schemas"]
    for name in ("Task", "User", "Notification", "Error"):
        example = components[name]["example"]
        assert set(example) <= set(components[name]["properties"]), name
