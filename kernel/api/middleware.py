"""Contract-level HTTP behaviour shared by every `/api/` route.

- One canonical path form: no trailing slash (as API.md and the web client write paths).
  The slashed form is accepted everywhere by resolving it as the canonical one, so clients that
  add a slash keep working and the schema lists each route once.
- `API-Version` on every API answer, so a client can tell which contract it is talking to.
- `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` on every throttled answer
  (values recorded by the throttles in `kernel.api.throttling`), so limits are visible before
  a 429 rather than discovered by one.
"""

from __future__ import annotations

from django.conf import settings

RATELIMIT_ATTR = "_deepiri_ratelimit"


def record_rate_limit(request, limit: int, remaining: int, reset_seconds: float) -> None:
    """Keep the tightest limit seen for this request (several throttles may apply)."""
    django_request = getattr(request, "_request", request)
    current = getattr(django_request, RATELIMIT_ATTR, None)
    remaining = max(0, int(remaining))
    if current is None or remaining < current[1]:
        setattr(django_request, RATELIMIT_ATTR, (int(limit), remaining, max(0, int(round(reset_seconds)))))


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
                limit, remaining, reset = limits
                response["RateLimit-Limit"] = str(limit)
                response["RateLimit-Remaining"] = str(remaining)
                response["RateLimit-Reset"] = str(reset)
        return response
