from __future__ import annotations

from rest_framework.permissions import BasePermission


class IsUser(BasePermission):
    """A signed-in person (JWT or session), not a machine client."""

    def has_permission(self, request, view):
        from accounts.models import User

        return isinstance(request.user, User) and request.user.is_authenticated and request.user.is_active


def api_key_scope(*scopes: str):
    """Allow a machine client whose API key has one of `scopes` (or a signed-in user)."""

    class HasScope(BasePermission):
        def has_permission(self, request, view):
            from accounts.authentication import MachineClient

            if isinstance(request.user, MachineClient):
                return request.user.scope in scopes
            return IsUser().has_permission(request, view)

    HasScope.__name__ = f"HasScope_{'_'.join(scopes)}"
    return HasScope
