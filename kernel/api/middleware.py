"""Contract-level HTTP behaviour shared by every `/api/` route.

- One canonical path form: no trailing slash (as API.md and the web client write paths).
  The slashed form is accepted everywhere by resolving it as the canonical one, so clients that
  add a slash keep working and the schema lists each route once.
- `API-Version` on every API answer, so a client can tell which contract it is talking to; a
  request may pin one with the same header, and a version this server cannot serve is refused
  (400 `unsupported_api_version`, naming the supported ones) before any view runs, rather than
  answered in a contract the client does not expect.
- `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` on every throttled answer
  (values recorded by the throttles in `kernel.api.throttling`), so limits are visible before
  a 429 rather than discovered by one; `RateLimit-Policy` (IETF draft format,
  `"login_email";q=10;w=60`) names the policy those numbers belong to.
"""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse

from kernel import version
from kernel.api.errors import ErrorCode

RATELIMIT_ATTR = "_deepiri_ratelimit"


def record_rate_limit(
    request, limit: int, remaining: int, reset_seconds: float, policy: str = "default", window: float = 0
) -> None:
    """Keep the tightest limit seen for this request (several throttles may apply), with the
    name and window (seconds) of the policy it belongs to."""
    django_request = getattr(request, "_request", request)
    current = getattr(django_request, RATELIMIT_ATTR, None)
    remaining = max(0, int(remaining))
    if current is None or remaining < current[1]:
        setattr(
            django_request,
            RATELIMIT_ATTR,
            (int(limit), remaining, max(0, int(round(reset_seconds))), policy, max(1, int(window))),
        )


def unsupported_version_response(request, requested: str) -> JsonResponse:
    supported = list(version.SUPPORTED_API_VERSIONS)
    message = f"API version {requested!r} is not supported; this server speaks {', '.join(supported)}."
    body = {
        "success": False,
        "code": ErrorCode.UNSUPPORTED_API_VERSION,
        "message": message,
        "errors": {"API-Version": [message]},
        "errorCodes": {"API-Version": ["unsupported_api_version"]},
        "supportedVersions": supported,
        "requestId": getattr(request, "request_id", "-"),
    }
    return JsonResponse(body, status=400)


class ApiContractMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        is_api = path.startswith("/api/")
        if is_api and len(path) > len("/api/") and path.endswith("/"):
            request.path_info = path.rstrip("/")
        response = self.get_response(request)
        if is_api:
            response["API-Version"] = settings.API_VERSION
            limits = getattr(request, RATELIMIT_ATTR, None)
            if limits is not None:
                limit, remaining, reset, policy, window = limits
                response["RateLimit-Limit"] = str(limit)
                response["RateLimit-Remaining"] = str(remaining)
                response["RateLimit-Reset"] = str(reset)
                response["RateLimit-Policy"] = f'"{policy}";q={limit};w={window}'
        return response


class ApiVersionMiddleware:
    """Refuses a request pinned to a version this server cannot serve, before any view runs.
    Placed after CorsMiddleware so that a browser can read the refusal."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        requested = request.headers.get("API-Version") if request.path_info.startswith("/api/") else None
        if requested is not None and not version.supports(requested):
            return unsupported_version_response(request, requested)
        return self.get_response(request)
