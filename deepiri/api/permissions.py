from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework.permissions import BasePermission


class MachinePrincipal:
    """The principal of a request made by a machine (an API key), not a person. Authentication
    that accepts machines returns a subclass carrying its `scope`, so permissions here tell the
    two apart without knowing which app authenticates them."""

    scope: str = ""


class IsUser(BasePermission):
    """A signed-in person (JWT or session), not a machine client."""

    def has_permission(self, request, view):
        user = request.user
        return isinstance(user, get_user_model()) and user.is_authenticated and user.is_active


def api_key_scope(*scopes: str):
    """Allow a machine client whose API key has one of `scopes` (or a signed-in user)."""

    class HasScope(BasePermission):
        def has_permission(self, request, view):
            if isinstance(request.user, MachinePrincipal):
                return request.user.scope in scopes
            return IsUser().has_permission(request, view)

    HasScope.__name__ = f"HasScope_{'_'.join(scopes)}"
    return HasScope
