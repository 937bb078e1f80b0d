from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework.permissions import BasePermission

from kernel import roles


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


class StaffSecondFactor(BasePermission):
    """A person's staff privileges on the REST API (metrics, health details) need the second
    factor when their account has one (or must have one, ADMIN_REQUIRE_2FA), as in the admin.
    The API's password sign-in issues a JWT without it, so such an account reaches staff-only
    routes only through a session that passed the admin's authenticator step; machines use an
    API key instead. Refused: 403 with code `second_factor_required`."""

    message = "This staff account signs in with its authenticator: use the admin's session (or an API key)."
    code = "second_factor_required"

    def has_permission(self, request, view):
        user = request.user
        if isinstance(user, MachinePrincipal) or not getattr(user, "is_staff", False):
            return True  # not a person's staff privilege: the view's other permissions decide
        return staff_privileges_verified(request, user)


def staff_privileges_verified(request, user) -> bool:
    return not roles.second_factor_required(user) or roles.session_passed_second_factor(request, user)
