from __future__ import annotations

from django.conf import settings
from django.contrib.auth import authenticate
from django.db.models import prefetch_related_objects
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import firebase, personal_tokens, selectors, services, socket_ticket, tokens
from accounts.models import User
from accounts.serializers import (
    AuthResultSerializer,
    DeleteAccountSerializer,
    FirebaseSerializer,
    ForgotPasswordSerializer,
    FriendRequestOutSerializer,
    FriendRequestSerializer,
    LoginSerializer,
    MessageSerializer,
    NewTokenSerializer,
    ProfileUpdateSerializer,
    PublicUserSerializer,
    RefreshSerializer,
    RegisterSerializer,
    ResetPasswordSerializer,
    TokenCreateSerializer,
    TokenRegenerateSerializer,
    TokenSerializer,
    UserOnlySerializer,
    UserPreferencesSerializer,
    UserSerializer,
    UserStatsSerializer,
    VerifyEmailSerializer,
)
from accounts.validators import (
    preferences_json_schema,
    readable_preferences,
    strip_control_characters,
)
from kernel import exports
from kernel.api.casing import to_camel
from kernel.api.conditional import precondition
from kernel.api.pagination import LimitSkipPagination, limit_parameter, paginated_schema, skip_parameter
from kernel.api.parsers import wrong_case_errors
from kernel.api.permissions import api_key_scope
from kernel.api.scopes import read_write
from kernel.api.throttling import LoginEmailThrottle, LoginIPThrottle, PasswordConfirmThrottle, RegisterIPThrottle
from kernel.versioning import refresh_version

COOKIE_PATH = "/api/auth"


def _with_roles(user):
    """The request's user with its groups loaded (roles), without fetching the user again."""
    prefetch_related_objects([user], "groups")
    return user


def _auth_response(user, pair, status_code=200, message=None):
    body = {"success": True, "data": {"user": UserSerializer(user).data, **pair}}
    if message:
        body["message"] = message
    response = Response(body, status=status_code)
    response.set_cookie(
        settings.REFRESH_COOKIE_NAME,
        pair["refresh_token"],
        max_age=int(settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"].total_seconds()),
        httponly=True,
        secure=settings.REFRESH_COOKIE_SECURE,
        samesite="Lax",
        path=COOKIE_PATH,
    )
    socket_ticket.set_cookie(response, user, pair["refresh_token"])
    return response


class PublicAPIView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get_authenticate_header(self, request):
        return 'Bearer realm="api"'  # keeps credential failures a 401, not DRF's 403


class RegisterView(PublicAPIView):
    created_location = "/api/users/profile"  # the new account, as its owner reads it
    throttle_classes = [LoginIPThrottle, RegisterIPThrottle]

    @extend_schema(request=RegisterSerializer, responses={201: AuthResultSerializer}, tags=["auth"])
    def post(self, request):
        ser = RegisterSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        user = services.register_user(**ser.validated_data)
        services.send_email_verification(user)
        user = _with_roles(user)
        return _auth_response(user, tokens.issue_pair(user), 201, "User registered successfully")


class LoginView(PublicAPIView):
    throttle_classes = [LoginIPThrottle, LoginEmailThrottle]

    @extend_schema(request=LoginSerializer, responses={200: AuthResultSerializer}, tags=["auth"])
    def post(self, request):
        ser = LoginSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        user = authenticate(request, email=ser.validated_data["email"], password=ser.validated_data["password"])
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid credentials")
        services.record_login(user)
        user = _with_roles(user)
        return _auth_response(user, tokens.issue_pair(user), 200, "Login successful")


def _raw_refresh(request, data) -> str:
    raw = data.get("refresh_token") or request.COOKIES.get(settings.REFRESH_COOKIE_NAME)
    if not raw:
        raise exceptions.AuthenticationFailed("No refresh token")
    return raw


class RefreshView(PublicAPIView):
    @extend_schema(request=RefreshSerializer, responses={200: AuthResultSerializer}, tags=["auth"])
    def post(self, request):
        ser = RefreshSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        raw = _raw_refresh(request, ser.validated_data)
        try:
            user, pair = tokens.rotate(raw)
        except tokens.RefreshRefused as exc:
            raise exceptions.AuthenticationFailed("Invalid refresh token") from exc
        return _auth_response(user, pair, 200, "Token refreshed successfully")


class LogoutView(PublicAPIView):
    @extend_schema(request=RefreshSerializer, responses={200: MessageSerializer}, tags=["auth"])
    def post(self, request):
        ser = RefreshSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        raw = ser.validated_data.get("refresh_token") or request.COOKIES.get(settings.REFRESH_COOKIE_NAME)
        if raw:
            tokens.blacklist(raw)
        # The access token in hand stops working now, not when it expires.
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header.startswith("Bearer "):
            tokens.log_out_access_token(header[len("Bearer ") :].strip())
        response = Response({"success": True, "message": "Logged out successfully"})
        response.delete_cookie(settings.REFRESH_COOKIE_NAME, path=COOKIE_PATH, samesite="Lax")
        socket_ticket.clear_cookie(response)
        return response


class VerifyView(APIView):
    @extend_schema(responses={200: UserOnlySerializer}, tags=["auth"])
    def get(self, request):
        user = _with_roles(request.user)
        return Response({"success": True, "message": "Token is valid", "data": {"user": UserSerializer(user).data}})


class ForgotPasswordView(PublicAPIView):
    throttle_classes = [LoginIPThrottle, LoginEmailThrottle]

    @extend_schema(request=ForgotPasswordSerializer, responses={200: MessageSerializer}, tags=["auth"])
    def post(self, request):
        ser = ForgotPasswordSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        services.request_password_reset(ser.validated_data["email"])
        return Response({"success": True, "message": "If an account exists for this email, a reset link was sent."})


class VerifyEmailView(PublicAPIView):
    """Follows the link mailed at registration or for an email change (a signed token)."""

    throttle_classes = [LoginIPThrottle]

    @extend_schema(request=VerifyEmailSerializer, responses={200: UserOnlySerializer}, tags=["auth"])
    def post(self, request):
        ser = VerifyEmailSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        user = _with_roles(services.verify_email(ser.validated_data["token"]))
        return Response({"success": True, "message": "Email verified", "data": {"user": UserSerializer(user).data}})


class ResendVerificationView(APIView):
    throttle_classes = [LoginIPThrottle]

    @extend_schema(request=None, responses={200: MessageSerializer}, tags=["auth"])
    def post(self, request):
        if services.is_email_verified(request.user):
            return Response({"success": True, "message": "Email already verified"})
        services.send_email_verification(request.user)
        return Response({"success": True, "message": "Verification email sent"})


class ResetPasswordView(PublicAPIView):
    throttle_classes = [LoginIPThrottle]

    @extend_schema(request=ResetPasswordSerializer, responses={200: MessageSerializer}, tags=["auth"])
    def post(self, request):
        ser = ResetPasswordSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        services.reset_password(ser.validated_data["token"], ser.validated_data["new_password"])
        return Response({"success": True, "message": "Password reset successfully"})


class FirebaseView(PublicAPIView):
    throttle_classes = [LoginIPThrottle]

    @extend_schema(request=FirebaseSerializer, responses={200: AuthResultSerializer}, tags=["auth"])
    def post(self, request):
        ser = FirebaseSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        claims = firebase.verify_id_token(ser.validated_data["id_token"])
        email = claims["email"].strip().lower()
        user = selectors.user_with_email(email)
        if user is not None and not user.is_active:
            raise exceptions.AuthenticationFailed("Account is deactivated.")
        if user is None:
            user = services.register_user(
                name=(strip_control_characters(str(claims.get("name") or "")) or email.split("@")[0])[:100],
                email=email,
                password=None,
            )
        # Firebase verified the address: its owner gets this account, and an unverified
        # password registered by someone else for that address stops working.
        services.claim_by_verified_email(user)
        user = _with_roles(user)
        return _auth_response(user, tokens.issue_pair(user), 200, "Login successful")


class SocialCompleteView(APIView):
    """Where allauth lands after a GitHub/Google login: hands the browser session a JWT pair."""

    authentication_classes = [SessionAuthentication]

    @extend_schema(responses={200: AuthResultSerializer}, tags=["auth"])
    def get(self, request):
        user = _with_roles(request.user)
        return _auth_response(user, tokens.issue_pair(user), 200, "Login successful")


# ----------------------------------------------------------------------------- users


class ProfileView(APIView):
    versioned = True  # If-Match (kernel.api.conditional): the user's version
    required_scopes = read_write("profile:read")

    @extend_schema(responses={200: UserSerializer}, tags=["users"])
    def get(self, request):
        return Response(UserSerializer(_with_roles(request.user)).data)

    @extend_schema(
        request=ProfileUpdateSerializer,
        responses={200: UserSerializer},
        tags=["users"],
        description="Replaces the public profile: `name` is required, and `bio` or `profilePicture` left out "
        "are cleared. `timezone` is a setting, changed only when sent. PATCH changes only what is sent.",
    )
    def put(self, request):
        return self._update(request, replace=True)

    @extend_schema(request=ProfileUpdateSerializer, responses={200: UserSerializer}, tags=["users"])
    def patch(self, request):
        return self._update(request, replace=False)

    def _update(self, request, replace):
        ser = ProfileUpdateSerializer(request.user, data=request.data, partial=not replace)
        ser.is_valid(raise_exception=True)
        fields = {**ProfileUpdateSerializer.replaced_defaults(), **ser.validated_data} if replace else ser.validated_data
        with _guarded(request, lambda: UserSerializer(_with_roles(User.objects.get(pk=request.user.pk))).data):
            user = services.update_profile(request.user, **fields)
        refresh_version(user)
        user = _with_roles(user)
        return Response({"success": True, "message": "Profile updated successfully", "data": UserSerializer(user).data})


def _guarded(request, current, *, versioned_answer: bool = True):
    """A profile or preferences write runs only if the request's `If-Match` (or `version`) is
    still the user's version (412 else): one version for the user's row, profile and settings."""
    return precondition(
        request, User.objects.filter(pk=request.user.pk), current, versioned_answer=versioned_answer
    )


def _preferences_answer() -> dict:
    """The preferences object as sent: camelCase keys, like every body."""
    schema = preferences_json_schema()
    return {**schema, "properties": {to_camel(k): v for k, v in schema["properties"].items()}}


class PreferencesView(APIView):
    versioned = True  # If-Match (kernel.api.conditional): the user's version
    # The answer is the preferences object itself (what the web client reads), not `{preferences}`.
    required_scopes = read_write("profile:read")

    @extend_schema(responses={200: _preferences_answer()}, tags=["users"])
    def get(self, request):
        response = Response(readable_preferences(request.user.preferences))
        response.resource_version = request.user.version  # kernel.api.conditional: the ETag's version
        return response

    @extend_schema(request=UserPreferencesSerializer, responses={200: _preferences_answer()}, tags=["users"])
    def put(self, request):
        return self._update(request, replace=True)

    @extend_schema(request=UserPreferencesSerializer, responses={200: _preferences_answer()}, tags=["users"])
    def patch(self, request):
        return self._update(request, replace=False)

    def _update(self, request, replace):
        if wrong_case_errors(request.data):  # the preferences object is not a serializer's: say it here
            raise exceptions.ValidationError(wrong_case_errors(request.data))
        data = request.data.get("preferences", request.data) if isinstance(request.data, dict) else None
        # `version` in this body would be a preference: only `If-Match` says which version it is based on.
        with _guarded(
            request,
            lambda: readable_preferences(User.objects.get(pk=request.user.pk).preferences),
            versioned_answer=False,
        ):
            answer = services.update_preferences(request.user, data, replace=replace)
        return Response(answer)


class StatsView(APIView):
    required_scopes = read_write("profile:read")

    @extend_schema(responses={200: UserStatsSerializer}, tags=["users"])
    def get(self, request):
        return Response(selectors.user_stats(request.user))


class SearchView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("query", str, required=True),
            limit_parameter(max_limit=50, default=20),
            skip_parameter(),
        ],
        responses={200: paginated_schema(PublicUserSerializer, "UserSearch")},
        operation_id="users_search",
        tags=["users"],
    )
    def get(self, request):
        query = (request.query_params.get("query") or "").strip()
        if len(query) < 2 or len(query) > 100:
            raise exceptions.ValidationError({"query": ["Must be 2 to 100 characters."]})
        paginator = LimitSkipPagination()
        paginator.start(request, default_limit=20, max_limit=50)
        page = paginator.page_of(selectors.search_users(request.user, query), counted=False)
        return paginator.get_paginated_response(PublicUserSerializer(page, many=True).data)


class FriendsView(APIView):
    created_location = "/api/users/friends/requests/{request[_id]}"

    @extend_schema(
        parameters=[limit_parameter(), skip_parameter()],
        responses={200: paginated_schema(PublicUserSerializer, "Friend")},
        operation_id="users_friends_list",
        tags=["users"],
    )
    def get(self, request):
        paginator = LimitSkipPagination()
        page = paginator.paginate_queryset(
            selectors.friends_of(request.user).order_by("name", "id"), request, view=self
        )
        return paginator.get_paginated_response(PublicUserSerializer(page, many=True).data)

    @extend_schema(
        request=FriendRequestSerializer,
        responses={
            201: inline_serializer(
                "FriendRequested", {"friend": PublicUserSerializer(), "request": FriendRequestOutSerializer()}
            )
        },
        tags=["users"],
    )
    def post(self, request):
        """Ask a user to be friends (`request.status` "pending"); if they had asked first, this
        accepts their request ("accepted")."""
        ser = FriendRequestSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        friend_request = services.request_friend(request.user, ser.validated_data["friend_id"])
        friend = friend_request.to_user if friend_request.from_user_id == request.user.pk else friend_request.from_user
        return Response(
            {"friend": PublicUserSerializer(friend).data, "request": FriendRequestOutSerializer(friend_request).data},
            status=status.HTTP_201_CREATED,
        )


class FriendRequestsView(APIView):
    @extend_schema(
        responses={
            200: inline_serializer(
                "FriendRequests",
                {
                    "incoming": FriendRequestOutSerializer(many=True),
                    "outgoing": FriendRequestOutSerializer(many=True),
                },
            )
        },
        tags=["users"],
    )
    def get(self, request):
        pending = selectors.pending_friend_requests(request.user)
        return Response({key: FriendRequestOutSerializer(rows, many=True).data for key, rows in pending.items()})


class FriendRequestAnswerView(APIView):
    """`accept` or `decline` by the addressee; anyone else gets 404."""

    @extend_schema(request=None, responses={200: FriendRequestOutSerializer}, tags=["users"])
    def post(self, request, request_id, answer):
        answer_fn = {"accept": services.accept_friend_request, "decline": services.decline_friend_request}.get(answer)
        if answer_fn is None:
            raise exceptions.NotFound("Unknown answer.")
        return Response(FriendRequestOutSerializer(answer_fn(request.user, request_id)).data)


class FriendRequestDetailView(APIView):
    @extend_schema(responses={200: FriendRequestOutSerializer}, tags=["users"])
    def delete(self, request, request_id):
        """The requester withdraws a pending request."""
        return Response(FriendRequestOutSerializer(services.cancel_friend_request(request.user, request_id)).data)


class FriendDetailView(APIView):
    @extend_schema(
        responses={200: inline_serializer("FriendRemoved", {"friend": PublicUserSerializer()})}, tags=["users"]
    )
    def delete(self, request, friend_id):
        friend = services.remove_friend(request.user, friend_id)
        return Response({"friend": PublicUserSerializer(friend).data})


class PublicProfileView(APIView):
    permission_classes = [api_key_scope("read")]

    @extend_schema(responses={200: PublicUserSerializer}, tags=["users"])
    def get(self, request, user_id):
        user = selectors.active_user(user_id)
        if user is None:
            raise exceptions.NotFound("User not found.")
        return Response(PublicUserSerializer(user).data)


class AccountView(APIView):
    throttle_classes = [*APIView.throttle_classes, PasswordConfirmThrottle]

    @extend_schema(request=DeleteAccountSerializer, responses={200: MessageSerializer}, tags=["users"])
    def delete(self, request):
        ser = DeleteAccountSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        services.delete_account(request.user, ser.validated_data["password"])
        response = Response({"success": True, "message": "Account deleted successfully"})
        response.delete_cookie(settings.REFRESH_COOKIE_NAME, path=COOKIE_PATH, samesite="Lax")
        socket_ticket.clear_cookie(response)
        return response


class ExportView(APIView):
    @extend_schema(
        responses={200: inline_serializer("Export", {"user": UserSerializer()}, required=False)}, tags=["users"]
    )
    def get(self, request):
        user = _with_roles(request.user)
        return Response({"user": UserSerializer(user).data, **exports.export_user(user)})


__all__ = [name for name in dir() if name.endswith("View")] + ["serializers"]


def _new_token_response(pat, raw, status_code):
    pat.token = raw
    response = Response(NewTokenSerializer(pat).data, status=status_code)
    response["Cache-Control"] = "no-store"
    return response


class TokensView(APIView):
    """The signed-in user's personal access tokens. Declares no `required_scopes`: a token can
    neither list nor mint tokens."""

    @extend_schema(
        parameters=[limit_parameter(), skip_parameter()],
        responses={200: paginated_schema(TokenSerializer, "PersonalAccessToken")},
        operation_id="tokens_list",
        tags=["tokens"],
    )
    def get(self, request):
        paginator = LimitSkipPagination()
        page = paginator.paginate_queryset(personal_tokens.live_tokens(request.user), request, view=self)
        return paginator.get_paginated_response(TokenSerializer(page, many=True).data)

    @extend_schema(
        request=TokenCreateSerializer,
        responses={201: NewTokenSerializer},
        operation_id="tokens_create",
        tags=["tokens"],
    )
    def post(self, request):
        """A new token; `token` is in this answer only (store it now)."""
        ser = TokenCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        data = ser.validated_data
        pat, raw = personal_tokens.create_token(
            request.user, name=data["name"], scopes=data["scopes"], expires_at=data["expires_at"]
        )
        return _new_token_response(pat, raw, status.HTTP_201_CREATED)


class TokenDetailView(APIView):
    resource_name = "Token"

    @extend_schema(responses={204: None}, operation_id="tokens_delete", tags=["tokens"])
    def delete(self, request, token_id):
        """Revoke the token: its next request is refused."""
        personal_tokens.revoke_token(request.user, token_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenRegenerateView(APIView):
    resource_name = "Token"

    @extend_schema(
        request=TokenRegenerateSerializer,
        responses={200: NewTokenSerializer},
        operation_id="tokens_regenerate",
        tags=["tokens"],
    )
    def post(self, request, token_id):
        """A new value for the token (same id, name and scopes); the old value stops working.
        `expiresAt` is optional unless the token has expired."""
        ser = TokenRegenerateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        pat, raw = personal_tokens.regenerate_token(
            request.user, token_id, expires_at=ser.validated_data.get("expires_at")
        )
        return _new_token_response(pat, raw, status.HTTP_200_OK)
