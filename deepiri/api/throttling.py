"""Throttles backed by the cache (Redis in production), answering 429 with Retry-After.

`login` endpoints use two scopes at once: per client IP and per submitted email, so password
guessing is stopped whether it comes from one address or is spread across many.
"""

from __future__ import annotations

from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle


class AnonThrottle(AnonRateThrottle):
    scope = "anon"


class UserThrottle(UserRateThrottle):
    scope = "user"


class LoginIPThrottle(SimpleRateThrottle):
    scope = "login_ip"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginEmailThrottle(SimpleRateThrottle):
    scope = "login_email"

    def get_cache_key(self, request, view):
        email = request.data.get("email") if hasattr(request, "data") and isinstance(request.data, dict) else None
        if not email or not isinstance(email, str):
            return None
        return self.cache_format % {"scope": self.scope, "ident": email.strip().lower()}
