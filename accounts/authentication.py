from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication as BaseJWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.settings import api_settings

from accounts import auth_cache, personal_tokens, tokens
from accounts.errors import AccountError
from accounts.models import PAT_PREFIX, ScopedAPIKey
from kernel.api.permissions import MachinePrincipal
from kernel.api.throttling import counted, user_window
from kernel.logging import user_id_var


class JWTAuthentication(BaseJWTAuthentication):
    """simplejwt access tokens; refuses inactive or deleted users, tokens minted before the
    user's last password change, and logged-out (denylisted) tokens.

    The user, the token's denylist entries and the request's count in the per-user rate window
    are one Redis round trip (accounts.auth_cache, kernel.api.throttling.user_window)."""

    def authenticate(self, request):
        header = self.get_header(request)
        if header is None:
            return None
        raw_token = self.get_raw_token(header)
        if raw_token is None:
            return None
        token = self.get_validated_token(raw_token)
        user = cached_user(token, request)
        if not tokens.token_is_current(token, user):
            raise exceptions.AuthenticationFailed(_("Token is no longer valid."), code=AccountError.TOKEN_NOT_VALID)
        user_id_var.set(str(user.pk))
        return user, token

    def get_user(self, validated_token):
        return cached_user(validated_token)


def cached_user(validated_token, request=None):
    """The token's user (roles loaded) from the auth cache (accounts.auth_cache), refused when
    missing or inactive, as simplejwt's own lookup would, or when the token is on the denylist
    (logout, a revoked sign-in). Given the request, its per-user throttle count is taken in the
    same round trip."""
    user_id = validated_token.get(api_settings.USER_ID_CLAIM)
    if user_id is None:
        raise InvalidToken(_("Token contained no recognizable user identification"))
    window = user_window(request, user_id) if request is not None and auth_cache.counts_in_one_trip() else None
    user, revoked, count = auth_cache.load_token_user(validated_token, count=window[1:3] if window else None)
    if window:
        counted(request, window, count)
    if revoked:
        raise exceptions.AuthenticationFailed(_("Token is no longer valid."), code=AccountError.TOKEN_NOT_VALID)
    if user is None:
        raise exceptions.AuthenticationFailed(_("User not found"), code=AccountError.USER_NOT_FOUND)
    if not user.is_active:
        raise exceptions.AuthenticationFailed(_("User is inactive"), code=AccountError.USER_NOT_FOUND)
    return user


class MachineClient(MachinePrincipal):
    """The principal of a request made with an API key: not a user, carries one scope."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    pk = id = None

    def __init__(self, api_key: ScopedAPIKey):
        self.api_key = api_key
        self.scope = api_key.scope

    def __str__(self):
        return f"api-key:{self.api_key.prefix}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Api-Key"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header.startswith(self.keyword + " "):
            return None
        key = header[len(self.keyword) + 1 :].strip()
        try:
            api_key = ScopedAPIKey.objects.get_from_key(key)
        except ScopedAPIKey.DoesNotExist:
            api_key = None
        if api_key is None or not api_key.is_valid(key):
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        user_id_var.set(f"api-key:{api_key.prefix}")
        return MachineClient(api_key), api_key

    def authenticate_header(self, request):
        return self.keyword


class PersonalAccessTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer dpat_…` (accounts.personal_tokens). Runs before the JWT class,
    which would refuse the token as a malformed JWT; any other Bearer value is left to it.

    Default deny: a view must declare the scope a method needs (`required_scopes`,
    kernel.api.scopes); otherwise the token is refused there with 403, so account, session,
    token and staff routes are out of a token's reach whatever permission classes they use."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, raw = header.partition(" ")
        raw = raw.strip()
        if scheme != self.keyword or not raw.startswith(PAT_PREFIX):
            return None
        user, principal = personal_tokens.authenticate(request, raw)
        user_id_var.set(str(user.pk))
        return user, principal

    def authenticate_header(self, request):
        return 'Bearer realm="api"'
