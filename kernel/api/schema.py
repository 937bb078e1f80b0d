"""drf-spectacular post-processing: document the `{success, data}` envelope on every JSON response."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from kernel.api.pagination import CURSOR_PARAMETER
from kernel.api.scopes import required_scope

ERROR_SCHEMA = {
    "type": "object",
    "required": ["success", "code", "message"],
    "properties": {
        "success": {"type": "boolean", "enum": [False]},
        "code": {"type": "string", "description": "Stable snake_case error code (see docs/api-contract.md)."},
        "message": {"type": "string", "description": "For people; may change."},
        "errors": {
            "type": "object",
            "description": "Field errors: every invalid field at once, keyed by the camelCase field name; a "
            "list of messages, or for a nested field or list item an object of the same shape.",
            "additionalProperties": {"oneOf": [{"type": "array", "items": {}}, {"type": "object"}]},
        },
        "errorCodes": {
            "type": "object",
            "description": "Present with `errors` and shaped exactly like it, with a stable code per message "
            "(`missing_field`, `invalid`, `invalid_choice`, `too_long`, `too_short`, `too_large`, `too_small`, "
            "`already_exists`, `not_found`, `unknown_field`, `wrong_case`, ...; see docs/api-contract.md).",
            "additionalProperties": {"oneOf": [{"type": "array", "items": {}}, {"type": "object"}]},
        },
        "supportedVersions": {
            "type": "array",
            "items": {"type": "string"},
            "description": "On `unsupported_api_version`: the versions a client may pin.",
        },
        "data": {
            "type": "object",
            "description": "On `precondition_failed` (412): the resource as it is now, with its `version`; "
            "the answer's `ETag` is its tag, to retry with as `If-Match`.",
        },
        "requestId": {"type": "string"},
        "traceId": {"type": "string", "description": "OpenTelemetry trace id, when tracing is on"},
    },
    "example": {
        "success": False,
        "code": "validation_error",
        "message": "Validation error",
        "errors": {"title": ["This field is required."]},
        "errorCodes": {"title": ["missing_field"]},
        "requestId": "3f0c2d1e9a8b4c7d",
    },
}

PAGINATION_SCHEMA = {
    "type": "object",
    "required": ["total", "limit", "hasMore", "next", "nextCursor"],
    "properties": {
        "total": {"type": "integer", "minimum": 0},
        "limit": {"type": "integer", "minimum": 1},
        "skip": {"type": "integer", "minimum": 0, "description": "Absent on a page asked for by `cursor`."},
        "hasMore": {"type": "boolean"},
        "next": {
            "type": "string",
            "nullable": True,
            "description": "The path and query of the next page, or null on the last page: by `cursor`, "
            "unless this page was asked for by `skip`.",
        },
        "nextCursor": {
            "type": "string",
            "nullable": True,
            "description": "Opaque: pass it as `cursor` for the next page; null on the last page.",
        },
    },
}

# Shared error answers. Every operation documents the ones it can give, so a generated client
# knows every status it must handle.
ERROR_RESPONSES = {
    "400": ("BadRequest", "The request is invalid: see `errors` for every invalid field."),
    "401": ("Unauthorized", "No valid credentials (missing, expired or revoked token)."),
    "403": ("Forbidden", "Signed in, but this role may not do this."),
    "404": ("NotFound", "No such resource for this user (another user's object is a 404 too)."),
    "409": ("Conflict", "A duplicate (`already_exists`) or a conflict with the resource's current state (`conflict`)."),
    "412": (
        "PreconditionFailed",
        "`precondition_failed`: the resource changed since the version named by `If-Match` (or `version` in "
        "the body); `data` is the current resource and `ETag` its tag.",
    ),
    "413": ("TooLarge", "The body is larger or deeper than allowed."),
    "429": ("RateLimited", "Too many requests: wait `Retry-After` seconds."),
    "503": ("ServiceUnavailable", "A service this request needs is down: retry after `Retry-After` seconds."),
}

_WRITE_METHODS = {"post", "put", "patch"}


def _canonical(path: str) -> str:
    return path.rstrip("/") if path.startswith("/api/") and len(path) > len("/api/") else path


def _is_envelope(schema: dict, components: dict) -> bool:
    if schema.get("x-enveloped") or "success" in schema.get("properties", {}):
        return True
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        target = components.get(ref.rsplit("/", 1)[1], {})
        return "success" in target.get("properties", {})
    return False


MESSAGE_RESPONSE_SCHEMA = {
    "type": "object",
    "required": ["success", "message"],
    "properties": {"success": {"type": "boolean", "enum": [True]}, "message": {"type": "string"}},
}


def _is_message_only(schema: dict, components: dict) -> bool:
    """A `{message}` serializer: such views answer `{"success": true, "message": ...}`, no `data`."""
    ref = schema.get("$ref", "")
    target = components.get(ref.rsplit("/", 1)[1], {}) if ref.startswith("#/components/schemas/") else schema
    return set(target.get("properties", {})) == {"message"}


# What the main resources look like on the wire, shown in the docs and to client generators.
_TASK_ID, _USER_ID = "6b0d6ba5367105bbb682ef35", "6b0d6b9e367105bbb682ef01"
RESOURCE_EXAMPLES = {
    "Task": {
        "_id": _TASK_ID, "id": _TASK_ID, "title": "Write the quarterly report", "description": "Draft and send",
        "type": "manual", "status": "pending", "priority": "high", "dueDate": "2026-12-01T22:59:59Z",
        "dueDateOnly": True, "estimatedDuration": 90, "tags": ["work"],
        "metadata": {"source": "manual", "sourceId": "", "sourceUrl": ""}, "challengeId": None,
        "classification": None, "completionData": None,
        "createdAt": "2026-11-30T12:27:17.858890Z", "updatedAt": "2026-11-30T12:27:17.858890Z", "version": 3,
    },
    "User": {
        "_id": _USER_ID, "id": _USER_ID, "name": "Ada", "email": "ada@example.com", "roles": ["user"],
        "profilePicture": "", "bio": "", "timezone": "Europe/London", "preferences": {"theme": "dark"},
        "createdAt": "2026-11-30T12:20:00.000000Z", "version": 2,
    },
    "Notification": {
        "_id": "6b0d6bb0367105bbb682ef40", "id": "6b0d6bb0367105bbb682ef40", "type": "badge_earned",
        "title": "Badge earned", "message": "You earned First Steps", "data": {"badge": "first-steps"},
        "priority": "medium", "read": False, "readAt": None, "status": "pushed", "eventId": 12,
        "timestamp": "2026-11-30T12:30:00.000000Z", "createdAt": "2026-11-30T12:30:00.000000Z", "version": 1,
    },
}


def _add_examples(components: dict) -> None:
    for name, example in RESOURCE_EXAMPLES.items():
        component = components.get(name)
        if component is not None and set(example) <= set(component.get("properties", {})):
            component.setdefault("example", example)


def _fix_ids(components: dict) -> None:
    """The camelCase hook turns the wire's `_id` into `Id`; put back what is really sent."""
    for component in components.values():
        props = component.get("properties")
        if not isinstance(props, dict) or "Id" not in props:
            continue
        field = props.pop("Id")
        field.pop("title", None)
        field["description"] = "The same id as `id` (kept for clients written against the original API)."
        props["_id"] = field
        if "required" in component:
            component["required"] = ["_id" if name == "Id" else name for name in component["required"]]


def _fix_pagination(components: dict) -> None:
    for name, component in components.items():
        props = component.get("properties", {})
        if name.startswith("Paginated") and "pagination" in props:
            props["pagination"] = {"$ref": "#/components/schemas/Pagination"}


ETAG_HEADER = {
    "description": "Strong tag of this answer's bytes; for a resource with a `version`, the version comes first "
    '(`"7.3f2a9c0e1b7d4a36"`). Send it back as `If-None-Match` (reads) or `If-Match` (writes).',
    "schema": {"type": "string"},
}
IF_NONE_MATCH_PARAMETER = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "An `ETag` of an earlier answer: 304 without a body while it is still current (not "
    "counted against the rate limit).",
    "schema": {"type": "string"},
}
IF_MATCH_PARAMETER = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": "The `ETag` (or `*`) of the version this write is based on: a stale one is refused with 412 "
    "`precondition_failed` and the current resource. `version` in the body does the same.",
    "schema": {"type": "string"},
}
_GUARDED_METHODS = {"put", "patch", "delete"}


def _versioned_operations(generator) -> set[tuple[str, str]]:
    """(path, method) of the writes that honour `If-Match` (views marked `versioned = True`)."""
    found = set()
    for path, _regex, method, callback in getattr(generator, "endpoints", None) or []:
        if method.lower() in _GUARDED_METHODS and getattr(getattr(callback, "cls", None), "versioned", False):
            found.add((_canonical(path), method.lower()))
    return found


def _document_conditional(operation: dict, method: str, guarded: bool) -> None:
    parameters = operation.setdefault("parameters", [])
    names = {p.get("name") for p in parameters if isinstance(p, dict)}
    if "skip" in names and "cursor" not in names:
        parameters.append(CURSOR_PARAMETER)
    if method == "get" and "200" in operation["responses"]:
        operation["responses"]["200"].setdefault("headers", {})["ETag"] = ETAG_HEADER
        parameters.append(IF_NONE_MATCH_PARAMETER)
        operation["responses"]["304"] = {
            "description": "Not modified: the `If-None-Match` tag is still current (no body).",
            "headers": {"ETag": ETAG_HEADER},
        }
    if guarded:
        parameters.append(IF_MATCH_PARAMETER)
        operation["responses"]["412"] = {"$ref": "#/components/responses/PreconditionFailed"}


def _error_statuses(method: str, path: str) -> list[str]:
    statuses = ["400", "401", "403", "404", "429", "503"]  # 404: a missing route, or an id in a body
    if method in _WRITE_METHODS:
        statuses += ["409", "413"]
    return statuses


def _close_request_body(operation: dict, components: dict) -> None:
    """Unknown body fields are refused (kernel.api.strict): say so to client generators."""
    content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    ref = content.get("schema", {}).get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        component = components.get(ref.rsplit("/", 1)[1], {})
        if component.get("type") == "object" and "properties" in component:
            component.setdefault("additionalProperties", False)


IDEMPOTENCY_PARAMETER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "1-255 visible characters: the first answer to this user, endpoint and key is replayed "
    "for 24 h (`Idempotent-Replayed: true`); the same key with another body is a 422.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}


def _idempotent_operations(generator) -> set[tuple[str, str]]:
    """(path, method) of the views whose handler is wrapped by kernel.idempotency.idempotent."""
    found = set()
    for path, _regex, method, callback in getattr(generator, "endpoints", None) or []:
        view_class = getattr(callback, "cls", None)
        actions = getattr(callback, "actions", None) or {}
        handler_name = actions.get(method.lower(), method.lower())
        handler = getattr(view_class, handler_name, None)
        if getattr(handler, "idempotent", False):
            found.add((_canonical(path), method.lower()))
    return found


def _token_scopes(generator) -> dict[tuple[str, str], str]:
    """(path, method) -> the scope a personal access token needs there (kernel.api.scopes)."""
    found = {}
    for path, _regex, method, callback in getattr(generator, "endpoints", None) or []:
        scope = required_scope(getattr(callback, "cls", None), method)
        if scope is not None:
            found[(_canonical(path), method.lower())] = scope
    return found


def _document_token_scope(operation: dict, scope: str | None) -> None:
    """Name the scope a token needs; where none is declared, a token is not a way in."""
    if scope is not None:
        operation["x-required-scope"] = scope
        operation["description"] = (
            operation.get("description", "") + f"\n\nWith a personal access token: scope `{scope}`."
        ).strip()
    elif operation.get("security"):
        operation["security"] = [entry for entry in operation["security"] if "personalAccessToken" not in entry]


LOCATION_HEADER = {
    "description": "The path of the resource this request created (kernel.api.renderers.set_location).",
    "schema": {"type": "string"},
}


def envelope_hook(result, generator, request, public):
    components = result.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    schemas["Pagination"] = PAGINATION_SCHEMA
    schemas["MessageResponse"] = MESSAGE_RESPONSE_SCHEMA
    responses = components.setdefault("responses", {})
    for _status, (name, description) in ERROR_RESPONSES.items():
        responses[name] = {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    _fix_ids(schemas)
    _fix_pagination(schemas)
    _add_examples(schemas)

    idempotent = _idempotent_operations(generator)
    versioned = _versioned_operations(generator)
    token_scopes = _token_scopes(generator)
    paths = {}
    for path, methods in result.get("paths", {}).items():
        canonical = _canonical(path)
        paths.setdefault(canonical, {}).update(methods)
    result["paths"] = paths

    for path, methods in paths.items():
        if not path.startswith("/api/"):
            continue
        for method, operation in methods.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            _close_request_body(operation, schemas)
            _document_token_scope(operation, token_scopes.get((path, method)))
            _document_conditional(operation, method, (path, method) in versioned)
            if (path, method) in idempotent:
                operation.setdefault("parameters", []).append(IDEMPOTENCY_PARAMETER)
                operation["responses"]["422"] = {
                    "description": "This Idempotency-Key was already used with another body.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
            # drf-spectacular's default tag is the URL prefix "api"; the resource reads better
            # in docs and names the module of a generated client (`api/tasks/...`).
            if operation.get("tags") in (None, ["api"]):
                operation["tags"] = [path.split("/")[2]]
            for status_code, response in operation["responses"].items():
                if status_code == "201" and isinstance(response, dict):
                    response.setdefault("headers", {})["Location"] = LOCATION_HEADER
                content = response.get("content", {}).get("application/json")
                if content is None or not status_code.startswith("2"):
                    continue
                schema = content.get("schema")
                if not schema or _is_envelope(schema, schemas):
                    continue
                if _is_message_only(schema, schemas):
                    content["schema"] = {"$ref": "#/components/schemas/MessageResponse"}
                    continue
                content["schema"] = {
                    "type": "object",
                    "x-enveloped": True,
                    "required": ["success", "data"],
                    "properties": {"success": {"type": "boolean"}, "data": schema, "message": {"type": "string"}},
                }
            for status_code in _error_statuses(method, path):
                name = ERROR_RESPONSES[status_code][0]
                operation["responses"][status_code] = {"$ref": f"#/components/responses/{name}"}
    return result


class JWTAuthScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.JWTAuthentication"
    name = "jwtAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


class ApiKeyAuthScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "apiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization", "description": "`Api-Key <key>`"}


class PersonalAccessTokenAuthScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.PersonalAccessTokenAuthentication"
    name = "personalAccessToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "dpat_<prefix>_<secret>",
            "description": "A personal access token (`dpat_…`); each operation names the scope it needs.",
        }
