"""Account state changes: registration, password reset, deletion, friends (STYLE.md: actions layer)."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.models import Group
from django.core import signing
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import exceptions

from accounts import tokens
from accounts.events import FriendRequested, UserActivationChanged, UserDeleted, UserRegistered
from accounts.models import FriendRequest, PasswordResetToken, User
from accounts.validators import readable_preferences, validate_preferences
from kernel import events
from kernel.api.errors import ErrorCode
from kernel.api.exceptions import Conflict

logger = logging.getLogger(__name__)


@transaction.atomic
def register_user(*, name, email, password, timezone="UTC", preferences=None) -> User:
    user = User.objects.create_user(
        email=email, password=password, name=name, timezone=timezone, preferences=preferences or {}
    )
    group, _ = Group.objects.get_or_create(name="user")
    user.groups.add(group)
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=False)
    events.emit(UserRegistered(user=user))
    return user


# ----------------------------------------------------------------------------- email ownership
# An address counts as the user's only once they proved they read its mail (a signed link), or a
# provider that verifies addresses (Firebase, Google, GitHub) vouched for it. Verified state is
# allauth's EmailAddress row, so allauth's own flows (social login, password reset) and ours agree.

_VERIFY_SALT = "accounts.verify-email"


def record_login(user: User) -> None:
    """A password sign-in: `last_login` now (one UPDATE, no signal: the user row is not saved)."""
    user.last_login = timezone.now()
    User.objects.filter(pk=user.pk).update(last_login=user.last_login)


PROFILE_FIELDS = ("name", "bio", "profile_picture", "timezone")


def update_profile(user: User, **fields) -> User:
    """Change the user's own profile fields (validated by the caller's serializer)."""
    unknown = set(fields) - set(PROFILE_FIELDS)
    if unknown:
        raise exceptions.ValidationError({name: ["Unknown or read-only field."] for name in sorted(unknown)})
    for name, value in fields.items():
        setattr(user, name, value)
    if fields:
        user.save(update_fields=[*fields, "updated_at"])
    return user


def update_preferences(user: User, data, *, replace: bool) -> dict:
    """Replace the user's preferences with `data`, or merge `data` into them; validated as a
    whole. Returns what is stored. Raises a DRF ValidationError with the field's messages."""
    if not isinstance(data, dict):
        raise exceptions.ValidationError({"preferences": ["Must be an object."]})
    merged = dict(data) if replace else {**readable_preferences(user.preferences), **data}
    try:
        validate_preferences(merged)
    except DjangoValidationError as exc:
        raise exceptions.ValidationError({"preferences": list(exc.messages)}) from exc
    user.preferences = merged
    user.save(update_fields=["preferences", "updated_at"])
    return merged


def is_email_verified(user: User) -> bool:
    return EmailAddress.objects.filter(user=user, email__iexact=user.email, verified=True).exists()


def _mark_verified(user: User) -> None:
    """The user's current email is verified and is their only address (an old one stops
    signing in through allauth)."""
    EmailAddress.objects.filter(user=user).exclude(email__iexact=user.email).delete()
    updated = EmailAddress.objects.filter(user=user, email__iexact=user.email).update(verified=True, primary=True)
    if not updated:
        EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)


def send_email_verification(user: User, email: str | None = None) -> None:
    """Mail a signed link to `email` (default: the user's current address). Following it proves
    the address; for another address than the current one, it also makes it the account's email.
    The link names the address it was sent from, so it dies once the email changes."""
    email = (email or user.email).strip().lower()
    raw = signing.dumps({"u": user.pk, "e": email, "f": user.email}, salt=_VERIFY_SALT, compress=True)
    link = f"{settings.FRONTEND_URL.rstrip('/')}/verify-email?token={raw}"
    change = email != user.email
    days = max(1, settings.EMAIL_VERIFICATION_TIMEOUT // 86400)
    send_mail(
        subject="Confirm your new Deepiri email address" if change else "Confirm your Deepiri email address",
        message=(
            f"Hello {user.name},\n\n"
            + (
                f"Someone asked to change the email of your Deepiri account to {email}.\n"
                if change
                else "Please confirm that this address belongs to you.\n"
            )
            + f"Use this link within {days} day(s):\n\n{link}\n\n"
            f"Or paste this token into the app: {raw}\n\nIf it was not you, ignore this email."
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[email],
    )


def _check_email_free(user: User, email: str) -> None:
    if User.objects.filter(email__iexact=email).exclude(pk=user.pk).exists():
        raise exceptions.ValidationError({"email": ["A user with this email already exists."]}, code=ErrorCode.ALREADY_EXISTS)


def request_email_change(user: User, new_email: str, *, requested_by: User | None = None) -> None:
    """Another person (a staff member) asks to move `user` to `new_email`. Whoever typed the
    new address may well control it, so its confirmation proves nothing: the link goes to the
    account's CURRENT address, and the change takes effect only when its owner approves it.
    The new address is then unverified and gets its own verification link."""
    new_email = new_email.strip().lower()
    _check_email_free(user, new_email)
    raw = signing.dumps(
        {"u": user.pk, "e": new_email, "f": user.email, "k": "approve"}, salt=_VERIFY_SALT, compress=True
    )
    link = f"{settings.FRONTEND_URL.rstrip('/')}/verify-email?token={raw}"
    days = max(1, settings.EMAIL_VERIFICATION_TIMEOUT // 86400)
    who = f"A Deepiri staff member ({requested_by.email})" if requested_by is not None else "Someone"
    send_mail(
        subject="Approve the change of your Deepiri email address",
        message=(
            f"Hello {user.name},\n\n{who} asked to change the email of your Deepiri account to {new_email}.\n"
            "Nothing changes unless you approve it. Only if you asked for this change, use this link "
            f"within {days} day(s):\n\n{link}\n\nOr paste this token into the app: {raw}\n\n"
            "If you did not ask for it, ignore this email and tell support: your account keeps its address."
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[user.email],
    )


def change_email_directly(user: User, new_email: str, *, changed_by: User) -> str:
    """An administrator (`accounts.manage_roles`) moves `user` to `new_email` at once. The new
    address is unverified (a verification link goes to it) and the old address is told, so a
    change its owner did not ask for can be reported. Returns the old address."""
    new_email = new_email.strip().lower()
    _check_email_free(user, new_email)
    old_email = user.email
    with transaction.atomic():
        user.email = new_email
        user.save(update_fields=["email", "updated_at"])
        EmailAddress.objects.filter(user=user).delete()
        EmailAddress.objects.create(user=user, email=new_email, primary=True, verified=False)
    _notify_old_address(user, old_email, new_email, changed_by)
    send_email_verification(user)
    return old_email


def _notify_old_address(user: User, old_email: str, new_email: str, changed_by: User) -> None:
    send_mail(
        subject="The email address of your Deepiri account was changed",
        message=(
            f"Hello {user.name},\n\nA Deepiri administrator ({changed_by.email}) changed the email of your "
            f"account from {old_email} to {new_email}.\n\n"
            "If you did not ask for this, reply to this email or contact support."
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[old_email],
    )


def verify_email(raw_token: str) -> User:
    """Apply a link of `send_email_verification`: mark the address verified (and switch the
    account to it when it was a change). Invalid, expired or stale links are a 400."""
    invalid = exceptions.ValidationError({"token": ["This verification link is invalid, used or expired."]})
    try:
        data = signing.loads(raw_token, salt=_VERIFY_SALT, max_age=settings.EMAIL_VERIFICATION_TIMEOUT)
    except signing.BadSignature as exc:
        raise invalid from exc
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("u", "e", "f")):
        raise invalid
    approval = data.get("k") == "approve"
    # A change link without the approval mark was mailed to the NEW address by an earlier
    # release (whoever typed that address could follow it): no longer honoured.
    if data["e"] != data["f"] and not approval:
        raise invalid
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=data["u"], is_active=True).first()
        if user is None or user.email != data["f"]:
            raise invalid
        if data["e"] != user.email:
            if User.objects.filter(email__iexact=data["e"]).exclude(pk=user.pk).exists():
                raise exceptions.ValidationError({"email": ["A user with this email already exists."]}, code=ErrorCode.ALREADY_EXISTS)
            user.email = data["e"]
            try:
                with transaction.atomic():
                    user.save(update_fields=["email", "updated_at"])
            except IntegrityError as exc:  # taken meanwhile by a concurrent confirmation
                raise exceptions.ValidationError({"email": ["A user with this email already exists."]}, code=ErrorCode.ALREADY_EXISTS) from exc
        if not approval:
            _mark_verified(user)
            return user
        # The old owner approved; nobody has proved the new address yet.
        EmailAddress.objects.filter(user=user).delete()
        EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=False)
    send_email_verification(user)
    return user


def claim_by_verified_email(user: User) -> User:
    """A provider that verified `user.email` (Firebase, social login) signs its owner in to
    this account. If the account's own address was never verified, whoever registered it
    may not be that owner: the password goes and every token and session with it (a changed
    password hash ends JWTs through `pwv` and Django sessions through the session hash)."""
    with transaction.atomic():
        if not is_email_verified(user):
            if user.has_usable_password():
                user.set_unusable_password()
                user.save(update_fields=["password", "updated_at"])
            tokens.revoke_all(user)
            _mark_verified(user)
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


def delete_user(user: User) -> None:
    """Delete an account and everything it owns: the one path for self-service and the admin.
    Rows in PostgreSQL go by ON DELETE CASCADE; apps that keep data elsewhere (analytics,
    leaderboards) clean up on `user.deleted`."""
    user_id = user.pk
    with transaction.atomic():
        tokens.revoke_all(user)
        user.delete()
        events.emit(UserDeleted(user_id=user_id))


def delete_account(user: User, password: str) -> None:
    """Self-service deletion: the owner confirms with their password."""
    if not user.check_password(password):
        raise exceptions.AuthenticationFailed("Invalid password.")
    delete_user(user)


def set_active(user: User, active: bool) -> None:
    """Deactivate (or reactivate) a user; a deactivated user's tokens stop working at once."""
    with transaction.atomic():
        user.is_active = active
        user.save(update_fields=["is_active", "updated_at"])
        if not active:
            tokens.revoke_all(user)
        events.emit(UserActivationChanged(user=user, active=active))


# A declined requester may not ask the same person again for this long (no pestering).
FRIEND_REQUEST_COOLDOWN = timedelta(days=7)


def request_friend(user: User, friend_id: str) -> FriendRequest:
    """Ask `friend_id` to be friends. If they already asked `user`, this accepts their request.
    Returns the request (pending, or accepted for the mutual case)."""
    if friend_id == user.pk:
        raise exceptions.ValidationError({"friend_id": ["You cannot add yourself."]})
    friend = User.objects.filter(pk=friend_id, is_active=True).first()
    if friend is None:
        raise exceptions.NotFound("User not found.")
    if user.friends.filter(pk=friend.pk).exists():
        raise exceptions.ValidationError({"friend_id": ["Already a friend."]}, code=ErrorCode.ALREADY_EXISTS)
    theirs = FriendRequest.objects.filter(from_user=friend, to_user=user, status=FriendRequest.Status.PENDING).first()
    if theirs is not None:
        return accept_friend_request(user, theirs.pk)
    declined = FriendRequest.objects.filter(
        from_user=user,
        to_user=friend,
        status=FriendRequest.Status.DECLINED,
        responded_at__gt=timezone.now() - FRIEND_REQUEST_COOLDOWN,
    ).exists()
    if declined:
        raise exceptions.ValidationError({"friend_id": ["This user declined your request recently."]})
    try:
        with transaction.atomic():
            request = FriendRequest.objects.create(from_user=user, to_user=friend)
            events.emit(FriendRequested(request=request))
    except IntegrityError as exc:  # the unique pending constraint: asked already (or a raced retry)
        raise exceptions.ValidationError({"friend_id": ["You already asked this user."]}, code=ErrorCode.ALREADY_EXISTS) from exc
    return request


def _pending_for_update(request_id: str, **who) -> FriendRequest:
    request = (
        FriendRequest.objects.select_for_update()
        .select_related("from_user", "to_user")
        .filter(pk=request_id, **who)
        .first()
    )
    if request is None:
        raise exceptions.NotFound("Friend request not found.")
    if request.status != FriendRequest.Status.PENDING:
        message = f"This request is already {request.status}."
        raise Conflict(message, errors={"status": [message]})
    return request


@transaction.atomic
def accept_friend_request(user: User, request_id: str) -> FriendRequest:
    """Only the addressee accepts; both users become friends (the one link both directions read)."""
    request = _pending_for_update(request_id, to_user=user)
    request.status, request.responded_at = FriendRequest.Status.ACCEPTED, timezone.now()
    request.save(update_fields=["status", "responded_at"])
    user.friends.add(request.from_user)
    # A crossing request the other way is settled by the same answer.
    FriendRequest.objects.filter(
        from_user=user, to_user=request.from_user, status=FriendRequest.Status.PENDING
    ).update(status=FriendRequest.Status.ACCEPTED, responded_at=request.responded_at)
    return request


@transaction.atomic
def decline_friend_request(user: User, request_id: str) -> FriendRequest:
    request = _pending_for_update(request_id, to_user=user)
    request.status, request.responded_at = FriendRequest.Status.DECLINED, timezone.now()
    request.save(update_fields=["status", "responded_at"])
    return request


@transaction.atomic
def cancel_friend_request(user: User, request_id: str) -> FriendRequest:
    """Only the requester withdraws their own pending request."""
    request = _pending_for_update(request_id, from_user=user)
    request.status, request.responded_at = FriendRequest.Status.CANCELLED, timezone.now()
    request.save(update_fields=["status", "responded_at"])
    return request


def remove_friend(user: User, friend_id: str) -> User:
    friend = user.friends.filter(pk=friend_id).first()
    if friend is None:
        raise exceptions.NotFound("Friend not found.")
    user.friends.remove(friend)
    return friend
