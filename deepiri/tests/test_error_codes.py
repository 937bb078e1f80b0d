"""Errors a program can branch on: a code for every field error (`errorCodes` beside `errors`),
duplicates as 409 `already_exists`, every field error reported at once (snake_case keys too),
and every code the code base can answer listed in the catalogue of docs/api-contract.md."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework import exceptions as drf_exceptions

from accounts.models import User
from kernel.api import exceptions as api_exceptions
from kernel.middleware import ApiErrorMiddleware

ROOT = Path(settings.BASE_DIR)
STRONG = "A-long-passw0rd!"


def _shape(tree):
    """The keys and list lengths of an errors tree, with the leaves blanked."""
    if isinstance(tree, dict):
        return {k: _shape(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_shape(v) for v in tree]
    return None


@pytest.mark.django_db
def test_every_field_error_has_a_code_in_the_same_place(auth_client):
    res = auth_client.post(
        "/api/tasks",
        {"title": "x" * 201, "priority": "urgent-ish", "estimatedDuration": 0, "colour": "red"},
        format="json",
    )
    assert res.status_code == 400
    body = res.json()
    assert body["code"] == "validation_error"
    assert _shape(body["errorCodes"]) == _shape(body["errors"])
    assert body["errorCodes"]["title"] == ["too_long"]
    assert body["errorCodes"]["priority"] == ["invalid_choice"]
    assert body["errorCodes"]["estimatedDuration"] == ["too_small"]
    assert body["errorCodes"]["colour"] == ["unknown_field"]
    missing = auth_client.post("/api/tasks", {}, format="json").json()
    assert missing["errorCodes"] == {"title": ["missing_field"]}
    assert missing["errors"]["title"] == ["This field is required."]  # what the web client reads


@pytest.mark.django_db
def test_a_snake_case_key_does_not_hide_the_other_field_errors(auth_client):
    res = auth_client.post("/api/tasks", {"due_date": "2026-12-01", "priority": "nope"}, format="json")
    assert res.status_code == 400
    body = res.json()
    assert body["errorCodes"] == {"title": ["missing_field"], "priority": ["invalid_choice"], "dueDate": ["wrong_case"]}
    assert body["errors"]["dueDate"] == ["Keys are camelCase: send `dueDate`."]
    # alone, it is still refused (never quietly accepted under the other spelling)
    alone = auth_client.post("/api/tasks", {"title": "t", "due_date": "2026-12-01"}, format="json")
    assert alone.status_code == 400 and alone.json()["errorCodes"] == {"dueDate": ["wrong_case"]}
    prefs = auth_client.patch("/api/users/preferences", {"daily_goal": 3}, format="json")
    assert prefs.status_code == 400 and prefs.json()["errorCodes"] == {"dailyGoal": ["wrong_case"]}
    assert auth_client.get("/api/tasks").json()["pagination"]["total"] == 0


@pytest.mark.django_db
def test_duplicates_are_409_already_exists_and_write_nothing(api_client, auth_client, user, other_user):
    before = User.objects.count()
    taken = api_client.post(
        "/api/auth/register", {"name": "Again", "email": user.email.upper(), "password": STRONG}, format="json"
    )
    assert taken.status_code == 409, taken.content
    body = taken.json()
    assert body["code"] == "already_exists" and body["errorCodes"] == {"email": ["already_exists"]}
    assert body["message"] == "A user with this email already exists."
    assert User.objects.count() == before
    # a duplicate among other mistakes is one of the field errors of a 400
    mixed = api_client.post("/api/auth/register", {"name": "Again", "email": user.email}, format="json")
    assert mixed.status_code == 400
    assert mixed.json()["errorCodes"] == {"email": ["already_exists"], "password": ["missing_field"]}

    assert auth_client.post("/api/users/friends", {"friendId": other_user.pk}, format="json").status_code == 201
    twice = auth_client.post("/api/users/friends", {"friendId": other_user.pk}, format="json")
    assert twice.status_code == 409 and twice.json()["code"] == "already_exists"


@pytest.mark.django_db
def test_other_errors_with_field_details_carry_codes_too(auth_client):
    res = auth_client.get("/api/tasks?x=%01")
    assert res.status_code == 400
    body = res.json()
    assert _shape(body["errorCodes"]) == _shape(body["errors"])
    assert body["errorCodes"] and all(v == ["invalid"] for v in body["errorCodes"].values())


# ---------------------------------------------------------------------------------------------
# The catalogue
# ---------------------------------------------------------------------------------------------

# The exceptions whose `code` reaches the wire as the envelope's `code`.
_API_EXCEPTIONS = {
    "APIException", "AuthenticationFailed", "NotAuthenticated", "PermissionDenied", "NotFound",
    "MethodNotAllowed", "NotAcceptable", "UnsupportedMediaType", "Throttled", "ParseError",
    "Conflict", "ServiceUnavailable", "PayloadTooLarge", "error_body",
}
_APPS = ("accounts", "analytics", "challenges", "gamification", "integrations", "notifications", "realtime", "tasks", "deepiri")


def _sources():
    for app in _APPS:
        for path in (ROOT / app).rglob("*.py"):
            parts = set(path.relative_to(ROOT).parts)
            if parts & {"tests", "testing", "migrations"} or path.name == "admin.py":
                continue
            yield path


def _name(func) -> str:
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def codes_in_code_base() -> dict[str, str]:
    """{code: where} for every code the code base can put in an error envelope."""
    found: dict[str, str] = {}

    def add(code, where):
        found.setdefault(api_exceptions.CODE_ALIASES.get(code, code), where)

    for path in _sources():
        where = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text())):
            limit_error = isinstance(node, ast.Call) and _name(node.func) == "JSONLimitError" and len(node.args) > 1
            if limit_error and isinstance(node.args[1], ast.Constant):  # re-raised by the parser with its code
                add(node.args[1].value, where)
            if isinstance(node, ast.Call) and _name(node.func) in _API_EXCEPTIONS:
                for kw in node.keywords:
                    if kw.arg == "code" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                        add(kw.value.value, where)
            elif isinstance(node, ast.ClassDef):
                for stmt in node.body:
                    if (
                        isinstance(stmt, ast.Assign)
                        and any(getattr(t, "id", "") == "default_code" for t in stmt.targets)
                        and isinstance(stmt.value, ast.Constant)
                    ):
                        add(stmt.value.value, where)
            elif isinstance(node, ast.Dict) and where.startswith("deepiri/"):
                # envelopes written by hand (middleware, health): {"code": "..."}
                for key, value in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value == "code" and isinstance(value, ast.Constant):
                        add(value.value, where)
    for code in api_exceptions.STATUS_CODES.values():
        add(code, "kernel/api/exceptions.py STATUS_CODES")
    for code in ApiErrorMiddleware.CODES.values():
        add(code, "kernel/middleware.py")
    for cls in vars(drf_exceptions).values():
        concrete = cls not in (drf_exceptions.ValidationError, drf_exceptions.APIException)
        if isinstance(cls, type) and issubclass(cls, drf_exceptions.APIException) and concrete:
            add(cls.default_code, f"rest_framework.exceptions.{cls.__name__}")
    for code in api_exceptions.FIELD_ERROR_CODES:
        add(code, "kernel/api/exceptions.py FIELD_CODES")
    return found


def catalogued() -> set[str]:
    text = (ROOT / "docs" / "api-contract.md").read_text()
    return set(re.findall(r"`([a-z][a-z0-9_]*)`", text))


def test_every_code_the_code_base_answers_is_catalogued():
    found = codes_in_code_base()
    assert {"validation_error", "not_acceptable", "already_exists", "unsupported_api_version", "missing_field"} <= set(found)
    missing = {code: where for code, where in found.items() if code not in catalogued()}
    assert not missing, f"codes answered but not in docs/api-contract.md: {missing}"
