"""Numbers in JSON input are bounded to what every reader can take back: integers within
+/-(2**53 - 1) (IEEE-754's safe range, what a JavaScript client reads exactly) and finite floats
of the same magnitude. A larger number went into PostgreSQL's jsonb exactly, came back as a
Python int, and orjson refused to write it: every read of its owner's account was a 500.

Each user-owned JSON document is written with a number beyond the bound (400 naming the field,
nothing stored) and then every read of the account is made (200, unchanged); a value stored
before the rule existed never breaks a read either."""

from __future__ import annotations

import pytest

from kernel.jsonlimits import MAX_SAFE_INTEGER

pytestmark = pytest.mark.django_db

# Spelled as JSON text: the test client's own encoder must not round or refuse them first.
BEYOND = [
    str(MAX_SAFE_INTEGER + 1),
    str(-(MAX_SAFE_INTEGER + 1)),
    str(2**63),  # beyond PostgreSQL bigint, still within orjson's unsigned 64 bits
    str(2**64),  # orjson parses it as a float; jsonb prints it back as an exact integer
    "-9223372036854775809",
    "1e300",
    "1.5e16",
]

# (method, path, body with {n} where the number goes, the field the error names)
WRITES = [
    ("put", "/api/users/preferences", '{"workHours": {"start": {n}}}', "workHours"),
    ("patch", "/api/users/preferences", '{"dailyGoal": {n}}', "dailyGoal"),
    ("patch", "/api/users/profile", '{"preferences": {"workHours": {"end": [{n}]}}}', "preferences"),
    ("put", "/api/users/profile", '{"name": "Alice", "bio": "b", "preferences": {"x": {n}}}', "preferences"),
    ("post", "/api/tasks", '{"title": "Big", "estimatedDuration": {n}}', "estimatedDuration"),
    ("post", "/api/tasks", '{"title": "Big", "tags": ["a", {n}]}', "tags"),
    ("patch", "/api/gamification/preferences", '{"showLeaderboard": {n}}', "showLeaderboard"),
    ("put", "/api/notifications/settings", '{"types": {"badge": {"inApp": {n}}}}', "types"),
    ("post", "/api/logs", '{"level": "info", "message": "m", "context": {"n": {n}}}', "context"),
]

READS = [
    "/api/auth/verify",
    "/api/users/profile",
    "/api/users/preferences",
    "/api/users/stats",
    "/api/users/export",
    "/api/tasks",
    "/api/notifications",
    "/api/notifications/settings",
    "/api/gamification/profile",
    "/api/integrations",
]


def _read_everything(client) -> dict:
    answers = {}
    for path in READS:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code, response.content[:300])
        answers[path] = response.json()
    return answers


def _send(client, method, path, raw):
    return getattr(client, method)(path, data=raw, content_type="application/json")


@pytest.mark.parametrize(("method", "path", "template", "field"), WRITES, ids=[f"{m} {p} {f}" for m, p, _, f in WRITES])
def test_a_number_beyond_the_safe_range_is_a_400_naming_the_field_and_reads_stay_whole(
    auth_client, user, method, path, template, field
):
    before = _read_everything(auth_client)
    for number in BEYOND:
        response = _send(auth_client, method, path, template.replace("{n}", number))
        assert response.status_code == 400, (number, response.status_code, response.content[:300])
        body = response.json()
        assert body["success"] is False
        assert field in body["errors"], (number, body)
    after = _read_everything(auth_client)
    for read in ("/api/users/preferences", "/api/tasks", "/api/notifications/settings"):
        assert after[read]["data"] == before[read]["data"], read


def test_the_largest_safe_numbers_are_stored_and_read_back_exactly(auth_client):
    raw = f'{{"workHours": {{"start": {MAX_SAFE_INTEGER}, "end": {-MAX_SAFE_INTEGER}, "ratio": 1.5e15}}}}'
    assert _send(auth_client, "put", "/api/users/preferences", raw).status_code == 200
    answers = _read_everything(auth_client)
    assert answers["/api/users/preferences"]["data"]["workHours"] == {
        "start": MAX_SAFE_INTEGER,
        "end": -MAX_SAFE_INTEGER,
        "ratio": 1.5e15,
    }


def test_a_number_refused_without_a_field_is_a_400(api_client):
    response = api_client.post("/api/auth/login", data=str(2**64), content_type="application/json")
    assert response.status_code == 400
    response = api_client.post(
        "/api/auth/register",
        data='{"name": "N", "email": "n@example.com", "password": "Correct-Horse-42!", "preferences": {"workHours": {"a": 1e300}}}',
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "preferences" in response.json()["errors"]


def test_numbers_stored_before_the_rule_never_break_a_read(auth_client, user):
    """Rows written by an earlier release (or by hand): an integer beyond 64 bits in the
    preferences, a notification's data and a task's classification."""
    from accounts.models import User
    from notifications.models import Notification
    from tasks.models import Task

    User.objects.filter(pk=user.pk).update(
        preferences={"theme": "dark", "work_hours": {"start": 2**64}, "daily_goal": 2**70}
    )
    Notification.objects.create(user=user, type="system", title="Hi", message="m", data={"n": 2**64, "m": -(2**80)})
    task = auth_client.post("/api/tasks", {"title": "Old"}, format="json").json()["data"]
    Task.objects.filter(pk=task["id"]).update(classification={"type": "manual", "estimated_duration": 2**66})

    answers = _read_everything(auth_client)
    # preferences are cleaned on read: the broken keys are left out, the rest stays
    assert answers["/api/users/preferences"]["data"] == {"theme": "dark"}
    assert answers["/api/users/profile"]["data"]["preferences"] == {"theme": "dark"}
    # anything else is written defensively (as a float), never a 500
    notification = next(n for n in answers["/api/notifications"]["data"] if n["title"] == "Hi")
    assert notification["data"] == {"n": float(2**64), "m": float(-(2**80))}
    # and the owner can still change their preferences
    response = auth_client.patch("/api/users/preferences", {"focusMode": True}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["data"] == {"theme": "dark", "focusMode": True}
