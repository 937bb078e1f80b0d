"""Account state changes: registration, password reset, deletion, friends (STYLE.md: actions layer)."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from rest_framework import exceptions

from accounts import tokens
from accounts.models import PasswordResetToken, User
from deepiri import events

logger = logging.getLogger(__name__)


@transaction.atomic
def register_user(*, name, email, password, timezone="UTC", preferences=None) -> User:
    user = User.objects.create_user(
        email=email, password=password, name=name, timezone=timezone, preferences=preferences or {}
    )
    group, _ = Group.objects.get_or_create(name="user")
    user.groups.add(group)
    events.emit("user.registered", user=user)
    return user


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def send_password_reset(user: User) -> None:
    """Email a single-use reset token that expires after PASSWORD_RESET_TIMEOUT seconds."""
    raw = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        # Only the newest link works.
        PasswordResetToken.objects.filter(user=user, used_at__isnull=True).update(used_at=now)
        PasswordResetToken.objects.create(
            user=user,
            token_hash=_hash(raw),
            expires_at=now + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT),
        )
    link = f"{settings.FRONTEND_URL.rstrip('/')}/reset-password?token={raw}"
    send_mail(
        subject="Reset your Deepiri password",
        message=(
            f"Hello {user.name},\n\nSomeone asked to reset the password of your Deepiri account.\n"
            f"Use this link within {settings.PASSWORD_RESET_TIMEOUT // 60} minutes:\n\n{link}\n\n"
            f"Or paste this token into the app: {raw}\n\nIf it was not you, ignore this email."
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[user.email],
    )


def request_password_reset(email: str) -> None:
    user = User.objects.filter(email__iexact=email.strip(), is_active=True).first()
    if user is None:
        return  # same answer either way: no account probing
    send_password_reset(user)


def reset_password(raw_token: str, new_password: str) -> User:
    with transaction.atomic():
        record = (
            PasswordResetToken.objects.select_for_update()
            .select_related("user")
            .filter(token_hash=_hash(raw_token))
            .first()
        )
        if record is None or record.used_at is not None or record.expires_at <= timezone.now() or not record.user.is_active:
            raise exceptions.ValidationError({"token": ["This reset link is invalid, used or expired."]})
        user = record.user
        try:
            password_validation.validate_password(new_password, user)
        except DjangoValidationError as exc:
            raise exceptions.ValidationError({"new_password": exc.messages}) from exc
        user.set_password(new_password)
        user.save(update_fields=["password", "updated_at"])
        record.used_at = timezone.now()
        record.save(update_fields=["used_at"])
        tokens.revoke_all(user)
    return user


def delete_account(user: User, password: str) -> None:
    if not user.check_password(password):
        raise exceptions.AuthenticationFailed("Invalid password.")
    user_id = user.pk
    with transaction.atomic():
        events.emit("user.deleting", user=user)
        tokens.revoke_all(user)
        user.delete()  # every owned row goes by ON DELETE CASCADE
        events.emit("user.deleted", user_id=user_id)


def set_active(user: User, active: bool) -> None:
    """Deactivate (or reactivate) a user; a deactivated user's tokens stop working at once."""
    with transaction.atomic():
        user.is_active = active
        user.save(update_fields=["is_active", "updated_at"])
        if not active:
            tokens.revoke_all(user)
        events.emit("user.activation_changed", user=user, active=active)


def add_friend(user: User, friend_id: str) -> User:
    if friend_id == user.pk:
        raise exceptions.ValidationError({"friend_id": ["You cannot add yourself."]})
    friend = User.objects.filter(pk=friend_id, is_active=True).first()
    if friend is None:
        raise exceptions.NotFound("User not found.")
    if user.friends.filter(pk=friend.pk).exists():
        raise exceptions.ValidationError({"friend_id": ["Already a friend."]})
    user.friends.add(friend)
    return friend


def remove_friend(user: User, friend_id: str) -> User:
    friend = user.friends.filter(pk=friend_id).first()
    if friend is None:
        raise exceptions.NotFound("Friend not found.")
    user.friends.remove(friend)
    return friend
