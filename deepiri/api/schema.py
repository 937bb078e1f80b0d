"""drf-spectacular post-processing: document the `{success, data}` envelope on every JSON response."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension

ERROR_SCHEMA = {
    "type": "object",
    "required": ["success", "message"],
    "properties": {
        "success": {"type": "boolean", "enum": [False]},
        "message": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {}}},
        "requestId": {"type": "string"},
    },
}


def envelope_hook(result, generator, request, public):
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    for path, methods in result.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for operation in methods.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for response in operation["responses"].values():
                content = response.get("content", {}).get("application/json")
                if content is None:
                    continue
                schema = content.get("schema")
                if not schema or schema.get("x-enveloped"):
                    continue
                props = schema.get("properties", {})
                if "success" in props:
                    continue
                content["schema"] = {
                    "type": "object",
                    "x-enveloped": True,
                    "required": ["success", "data"],
                    "properties": {"success": {"type": "boolean"}, "data": schema, "message": {"type": "string"}},
                }
            operation["responses"].setdefault(
                "400", {"description": "Validation error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            )
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
