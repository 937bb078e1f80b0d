from __future__ import annotations

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone as dj_timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.errors import AccountReason
from accounts.models import FriendRequest, PersonalAccessToken, User
from accounts.personal_tokens import MAX_LIFETIME as MAX_TOKEN_LIFETIME
from accounts.validators import (
    preferences_json_schema,
    readable_preferences,
    validate_name,
    validate_preferences,
    validate_timezone,
)
from kernel.api.errors import ErrorCode
from kernel.api.fields import DateTimeField, IdFieldsMixin
from kernel.api.scopes import SCOPES
from kernel.api.strict import StrictInputMixin, StrictSerializer


@extend_schema_field(preferences_json_schema())
class PreferencesField(serializers.JSONField):
    """Free-form JSON in storage, documented with the keys and limits validate_preferences enforces."""


def _django_validator(fn):
    def run(value):
        try:
            fn(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc

    return run


def _picture():
    """A URL, or "" when the user has none (so not `format: uri` in the schema)."""
    return serializers.CharField(read_only=True, help_text="An image URL, or empty.")


class UserSerializer(IdFieldsMixin, serializers.ModelSerializer):
    """The `user` of API.md: never a password hash or a token."""

    _id = serializers.CharField(source="pk", read_only=True)
    roles = serializers.ListField(child=serializers.CharField(), read_only=True)
    profile_picture = _picture()

    class Meta:
        model = User
        fields = ["_id", "id", "name", "email", "roles", "profile_picture", "bio", "timezone", "preferences", "created_at", "version"]
        read_only_fields = fields

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["preferences"] = readable_preferences(data.get("preferences"))
        return data


class PublicUserSerializer(IdFieldsMixin, serializers.ModelSerializer):
    _id = serializers.CharField(source="pk", read_only=True)
    profile_picture = _picture()

    class Meta:
        model = User
        fields = ["_id", "id", "name", "profile_picture", "bio", "created_at"]
        read_only_fields = fields


class RegisterSerializer(StrictSerializer):
    name = serializers.CharField(min_length=2, max_length=100, validators=[_django_validator(validate_name)])
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(write_only=True, max_length=128, trim_whitespace=False)
    timezone = serializers.CharField(required=False, default="UTC", validators=[_django_validator(validate_timezone)])
    preferences = PreferencesField(required=False, default=dict, validators=[_django_validator(validate_preferences)])

    def validate_email(self, value):
        value = value.strip().lower()
        if User.objects.filter(email__iexact=value).exists():
            raise serializers.ValidationError("A user with this email already exists.", code=ErrorCode.ALREADY_EXISTS)
        return value

    def validate_password(self, value):
        # Checked with the other fields (not after them), so every error comes back at once; the
        # similarity rule compares with the name and email as sent.
        raw = self.initial_data if isinstance(getattr(self, "initial_data", None), dict) else {}
        candidate = User(email=str(raw.get("email") or ""), name=str(raw.get("name") or ""))
        try:
            password_validation.validate_password(value, candidate)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc
        return value


class LoginSerializer(StrictSerializer):
    email = serializers.EmailField()
    password = serializers.CharField(trim_whitespace=False, max_length=128)


class RefreshSerializer(StrictSerializer):
    refresh_token = serializers.CharField(required=False, allow_blank=False)


class AuthResultSerializer(serializers.Serializer):
    user = UserSerializer()
    token = serializers.CharField()
    refresh_token = serializers.CharField()


class UserOnlySerializer(serializers.Serializer):
    user = UserSerializer()


class ForgotPasswordSerializer(StrictSerializer):
    email = serializers.EmailField()


class ResetPasswordSerializer(StrictSerializer):
    token = serializers.CharField(max_length=200)
    new_password = serializers.CharField(trim_whitespace=False, max_length=128)


class VerifyEmailSerializer(StrictSerializer):
    token = serializers.CharField(max_length=1000)


class FirebaseSerializer(StrictSerializer):
    id_token = serializers.CharField(max_length=8192)


class ProfileUpdateSerializer(StrictInputMixin, serializers.ModelSerializer):
    """Writable profile fields. PATCH updates the fields sent; PUT replaces the public profile
    (`replaced_defaults`: what a field left out becomes)."""

    REPLACED_ON_PUT = ("bio", "profile_picture")

    @classmethod
    def replaced_defaults(cls) -> dict:
        return {name: User._meta.get_field(name).get_default() for name in cls.REPLACED_ON_PUT}

    class Meta:
        model = User
        fields = ["name", "bio", "profile_picture", "timezone"]
        extra_kwargs = {"name": {"min_length": 2, "max_length": 100}}

    def validate_timezone(self, value):
        _django_validator(validate_timezone)(value)
        return value

    def validate(self, attrs):
        unknown = set(self.initial_data or {}) - set(self.fields)
        if unknown:
            raise serializers.ValidationError({k: ["Unknown or read-only field."] for k in sorted(unknown)})
        return attrs


class UserPreferencesSerializer(serializers.Serializer):
    preferences = PreferencesField()


class UserStatsSerializer(serializers.Serializer):
    friends_count = serializers.IntegerField()
    account_age = serializers.IntegerField()
    tasks_total = serializers.IntegerField()
    tasks_completed = serializers.IntegerField()
    challenges_total = serializers.IntegerField()
    challenges_completed = serializers.IntegerField()


class FriendRequestSerializer(StrictSerializer):
    friend_id = serializers.CharField(max_length=24)


class FriendRequestOutSerializer(serializers.ModelSerializer):
    _id = serializers.CharField(source="pk", read_only=True)
    from_user = PublicUserSerializer(read_only=True)
    to_user = PublicUserSerializer(read_only=True)

    class Meta:
        model = FriendRequest
        fields = ["_id", "id", "from_user", "to_user", "status", "created_at", "responded_at"]
        read_only_fields = fields


class DeleteAccountSerializer(StrictSerializer):
    password = serializers.CharField(trim_whitespace=False, max_length=128)


class MessageSerializer(serializers.Serializer):
    message = serializers.CharField()


def _scope_list(value):
    if len(set(value)) != len(value):
        raise serializers.ValidationError("Each scope may appear once.", code=AccountReason.DUPLICATE)
    return value


def _future_expiry(value):
    now = dj_timezone.now()
    if value <= now:
        raise serializers.ValidationError("The expiry must be in the future.", code=AccountReason.IN_PAST)
    if value > now + MAX_TOKEN_LIFETIME:
        raise serializers.ValidationError("A token lives at most 365 days.", code=AccountReason.TOO_FAR)
    return value


class TokenCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=50, validators=[_django_validator(validate_name)])
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(SCOPES)),
        min_length=1,
        max_length=len(SCOPES),
        validators=[_scope_list],
    )
    expires_at = DateTimeField(validators=[_future_expiry])


class TokenRegenerateSerializer(StrictSerializer):
    expires_at = DateTimeField(required=False, validators=[_future_expiry])


class TokenSerializer(serializers.ModelSerializer):
    """A personal access token as listed: never its secret or hash."""

    _id = serializers.CharField(source="pk", read_only=True)
    scopes = serializers.ListField(child=serializers.CharField(), read_only=True)
    expires_at = DateTimeField(source="expiry_date", read_only=True)
    last_used_at = DateTimeField(read_only=True)
    created_at = DateTimeField(source="created", read_only=True)

    class Meta:
        model = PersonalAccessToken
        fields = ["_id", "id", "name", "scopes", "expires_at", "last_used_at", "created_at"]
        read_only_fields = fields


class NewTokenSerializer(TokenSerializer):
    """The answer to create and regenerate: the only time `token` is shown."""

    token = serializers.CharField(read_only=True, help_text="`dpat_<prefix>_<secret>`, shown once")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "token"]
        read_only_fields = fields
