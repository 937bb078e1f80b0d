"""Errors a program can branch on: a code for every field error (`errorCodes` beside `errors`),
duplicates as 409 `already_exists`, every field error reported at once (snake_case keys too),
and every code the code base can answer listed in the catalogue of docs/api-contract.md."""

from __future__ import annotations

import ast
import importlib
import re
from enum import StrEnum
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework import exceptions as drf_exceptions

from accounts.models import User
from kernel.api import exceptions as api_exceptions
from kernel.api.errors import ErrorCode, ValidatorCode
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

_APPS = (
    "kernel", "accounts", "analytics", "challenges", "gamification", "integrations", "notifications", "realtime",
    "tasks", "deepiri",
)


def _sources():
    for app in _APPS:
        for path in (ROOT / app).rglob("*.py"):
            parts = set(path.relative_to(ROOT).parts)
            # admin.py: Django admin forms, answered as HTML pages, never as an API error envelope
            if parts & {"tests", "testing", "migrations"} or path.name == "admin.py":
                continue
            yield path


def error_enums() -> list[type[StrEnum]]:
    """Every error-code enum: the StrEnums of kernel/api/errors.py and of each app's errors.py."""
    modules = [importlib.import_module("kernel.api.errors")]
    modules += [importlib.import_module(f"{app}.errors") for app in _APPS if (ROOT / app / "errors.py").exists()]
    return [
        value
        for module in modules
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, StrEnum) and value.__module__ == module.__name__
    ]


def _kind(enum: type[StrEnum]) -> str:
    """`socket` codes are catalogued in docs/realtime.md; `reason`s are validator codes the
    envelope renames (FIELD_CODES, else `invalid`); the rest are envelope or field codes."""
    if enum.__name__.endswith("SocketError"):
        return "socket"
    if enum.__name__.endswith("Reason") or enum is ValidatorCode:
        return "reason"
    return "wire"


def _wire(code: str) -> str:
    return api_exceptions.CODE_ALIASES.get(code, code)


def codes_in_code_base() -> dict[str, str]:
    """{code: where} for every code the code base can put in an error envelope. Raise sites name
    enum members (test_no_raise_site_spells_a_code_as_a_string_literal), so the enums list them."""
    found: dict[str, str] = {}

    def add(code, where):
        found.setdefault(_wire(code), where)

    for enum in error_enums():
        for member in enum:
            kind = _kind(enum)
            if kind == "wire":
                add(member.value, f"{enum.__module__}.{enum.__name__}")
            elif kind == "reason":
                add(api_exceptions.FIELD_CODES.get(member.value, "invalid"), f"{enum.__module__}.{enum.__name__}")
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
    """The codes of the two tables under "### Codes" and "### Field error codes" (every cell but
    the last, which is the meaning)."""
    text = (ROOT / "docs" / "api-contract.md").read_text()
    section = text[text.index("### Codes") : text.index("Every code is a member of an error-code enum")]
    codes = set()
    for line in section.splitlines():
        cells = line.strip().strip("|").split("|")
        if line.startswith("|") and len(cells) > 1:
            for cell in cells[:-1]:
                codes |= set(re.findall(r"`([a-z][a-z0-9_]*)`", cell))
    return codes


def socket_catalogue() -> set[str]:
    """The socket `error {code, message}` codes listed in docs/realtime.md."""
    text = (ROOT / "docs" / "realtime.md").read_text()
    start = text.index("`error {code, message}` codes")
    paragraph = text[start : text.index("\n\n", start)]
    return set(re.findall(r"`([a-z][a-z0-9_]*)`", paragraph)) - {"error"}


def test_every_code_the_code_base_answers_is_catalogued():
    found = codes_in_code_base()
    assert {"validation_error", "not_acceptable", "already_exists", "unsupported_api_version", "missing_field"} <= set(found)
    missing = {code: where for code, where in found.items() if code not in catalogued()}
    assert not missing, f"codes answered but not in docs/api-contract.md: {missing}"


def test_every_catalogued_code_is_a_member_of_an_error_enum():
    defined = {member.value for enum in error_enums() if _kind(enum) == "wire" for member in enum}
    undefined = catalogued() - defined
    assert not undefined, f"codes in docs/api-contract.md that no error enum defines: {sorted(undefined)}"


def test_socket_codes_match_the_realtime_catalogue():
    socket = {m.value for enum in error_enums() if _kind(enum) == "socket" for m in enum}
    shared = {m.value for m in ErrorCode}
    listed = socket_catalogue()
    assert socket <= listed, f"socket codes not in docs/realtime.md: {sorted(socket - listed)}"
    assert listed <= socket | shared, f"docs/realtime.md codes no enum defines: {sorted(listed - socket - shared)}"


def test_reasons_are_not_wire_codes():
    """A reason is renamed `invalid` on the wire; one that became a catalogued field code belongs
    in its app's error enum instead."""
    for enum in error_enums():
        if _kind(enum) == "reason" and enum is not ValidatorCode:
            assert not set(enum) & set(api_exceptions.FIELD_CODES), enum


def test_an_error_code_lives_in_one_enum():
    seen: dict[str, str] = {}
    for enum in error_enums():
        for member in enum:
            where = f"{enum.__module__}.{enum.__name__}"
            assert seen.setdefault(member.value, where) == where, f"{member.value!r} in {seen[member.value]} and {where}"


# ---------------------------------------------------------------------------------------------
# Raise sites name enum members
# ---------------------------------------------------------------------------------------------

# Calls whose positional argument at this index is an error code.
_POSITIONAL_CODE = {
    "CommandError": 0, "SessionError": 0, "WsError": 0, "send_error": 0, "_error": 0,
    "JSONLimitError": 1, "RuleError": 1, "_failed": 1,
}
# Allowed exceptions, with why:
# - Integration providers' errors (ProviderError, AuthError, TransientError, RateLimited) carry the
#   peer's own reason (GitHub's `secondary_rate_limit`, Notion's `unauthorized`, ...), recorded on the
#   connection for operators; they never reach an error envelope.
_PEER_ERRORS = {"ProviderError", "AuthError", "TransientError", "RateLimited"}


def _literals(node) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _literals(node.body) + _literals(node.orelse)
    return []


def bare_codes(source: str) -> list[tuple[int, str]]:
    """(line, code) of every error code spelt as a string literal in `source`."""
    tree = ast.parse(source)
    examples = set()  # OpenAPI examples are documentation, serialized by the schema's YAML dumper
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _name(node.func) == "OpenApiExample":
            examples |= {id(n) for n in ast.walk(node)}
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "example":
                    examples |= {id(n) for n in ast.walk(value)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _name(node.func) not in _PEER_ERRORS:
            found += [(node.lineno, c) for kw in node.keywords if kw.arg == "code" for c in _literals(kw.value)]
            index = _POSITIONAL_CODE.get(_name(node.func))
            # Django's own CommandError takes a message alone: a code comes first of two or more
            if index is not None and len(node.args) > max(index, 1):
                found += [(node.lineno, c) for c in _literals(node.args[index])]
        elif isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "default_code" for t in node.targets):
            found += [(node.lineno, c) for c in _literals(node.value)]
        elif isinstance(node, ast.Dict) and id(node) not in examples:
            keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
            if keys & {"message", "success"}:  # an error body written by hand
                found += [
                    (node.lineno, c)
                    for k, v in zip(node.keys, node.values, strict=True)
                    if isinstance(k, ast.Constant) and k.value == "code"
                    for c in _literals(v)
                ]
    return found


def _name(func) -> str:
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def test_the_scan_finds_codes_spelt_as_literals():
    source = """
raise Conflict("x", code="already_exists")
raise CommandError("not_found", "Challenge not found.")
raise CommandError("No such user")
raise JSONLimitError("deep", "too_deep", ())
error_body("m", code="a" if x else ErrorCode.B)
body = {"success": False, "code": "validation_error", "message": "m"}
schema = {"example": {"code": "validation_error", "message": "m"}}
raise ProviderError("forbidden", code="forbidden")
class E(APIException):
    default_code = "rebuilding"
raise Conflict("x", code=ErrorCode.ALREADY_EXISTS)
"""
    assert [code for _, code in bare_codes(source)] == [
        "already_exists", "not_found", "too_deep", "a", "validation_error", "rebuilding",
    ]


def test_no_raise_site_spells_a_code_as_a_string_literal():
    """Codes are named by their enum member (`TaskError.INVALID_BODY`, `ErrorCode.NOT_FOUND`), so
    a misspelt code fails at import and every code is defined where the catalogue test reads it."""
    bare = [
        f"{path.relative_to(ROOT)}:{line} {code!r}"
        for path in _sources()
        for line, code in bare_codes(path.read_text())
    ]
    assert not bare, "use the app's error enum (errors.py) instead of: " + ", ".join(bare)
