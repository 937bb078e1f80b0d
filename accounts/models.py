from __future__ import annotations

from functools import cached_property
from zoneinfo import ZoneInfo

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone as dj_timezone
from rest_framework_api_key.crypto import KeyGenerator
from rest_framework_api_key.models import AbstractAPIKey, APIKeyManager

from accounts.validators import validate_name, validate_preferences, validate_timezone
from kernel.ids import new_id
from kernel.models import label_of
from kernel.versioning import version_field

ROLE_GROUPS = ("user", "moderator", "staff", "admin")


class UserManager(BaseUserManager):
    use_in_migrations = True

    def get_by_natural_key(self, username):
        return self.get(email__iexact=username)

    def _create(self, email, password, **extra):
        if not email:
            raise ValueError("An email is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email, password=None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        extra.setdefault("name", "Admin")
        return self._create(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A Deepiri user. Email is the login (unique, case-insensitive); roles are groups."""

    id = models.CharField(primary_key=True, max_length=24, default=new_id, editable=False)
    email = models.EmailField(max_length=254, unique=True)
    name = models.CharField(max_length=100, validators=[validate_name])
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    bio = models.CharField(max_length=500, blank=True, default="")
    profile_picture = models.URLField(max_length=500, blank=True, default="")
    preferences = models.JSONField(default=dict, blank=True, validators=[validate_preferences])
    friends = models.ManyToManyField("self", symmetrical=True, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=dj_timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    version = version_field()

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique")]
        indexes = [models.Index(fields=["name"], name="accounts_user_name_idx")]

    def __str__(self):
        return self.email

    def save(self, *args, **kwargs):
        if self.email:
            self.email = self.email.strip().lower()
        super().save(*args, **kwargs)

    @property
    def date_joined(self):
        return self.created_at

    @cached_property
    def tzinfo(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.timezone or "UTC")
        except Exception:
            return ZoneInfo("UTC")

    @property
    def roles(self) -> list[str]:
        """The role groups the user holds (always `user`; superusers are `admin` too). Derived from
        groups only, so the API and the admin agree: a moderator is not reported as staff."""
        names = {g.name for g in self.groups.all()} | {"user"}
        if self.is_superuser:
            names.add("admin")
        return sorted(names & set(ROLE_GROUPS))

    def get_full_name(self):
        return self.name

    def get_short_name(self):
        return self.name


class PasswordResetToken(models.Model):
    """A single-use, expiring password reset token. Only its SHA-256 is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="password_reset_tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=dj_timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"reset token for {label_of(self, 'user')} ({'used' if self.used_at else 'unused'})"


class ScopedAPIKey(AbstractAPIKey):
    """A key for a machine client: hashed at rest (djangorestframework-api-key), with one scope.

    Sent as `Authorization: Api-Key <key>`. Issued and revoked by admins in the Django admin.
    """

    class Scope(models.TextChoices):
        READ = "read", "Read-only API access"
        METRICS = "metrics", "Metrics and health"
        WEBHOOKS = "webhooks", "Internal webhooks"

    scope = models.CharField(max_length=20, choices=Scope.choices, default=Scope.READ)

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"


class TokenFamily(models.Model):
    """One sign-in's chain of refresh tokens. Rotation swaps `current_jti` with a conditional
    UPDATE, so of several refreshes racing with one token exactly one wins; a token of the
    family presented after it was rotated away (reuse: it was copied) revokes the family."""

    id = models.CharField(primary_key=True, max_length=32)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="token_families")
    current_jti = models.CharField(max_length=255)
    previous_jti = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(default=dj_timezone.now)
    rotated_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"token family {self.id} of {label_of(self, 'user')}"


class FriendRequest(models.Model):
    """A friendship starts as a request the addressee accepts; only then do both users appear in
    each other's `friends` (the accepted links, which is all the friends leaderboard reads)."""

    class Status(models.TextChoices):
        PENDING = "pending"
        ACCEPTED = "accepted"
        DECLINED = "declined"
        CANCELLED = "cancelled"

    id = models.CharField(primary_key=True, max_length=24, default=new_id, editable=False)
    from_user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="friend_requests_sent")
    to_user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="friend_requests_received")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=dj_timezone.now)
    responded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One open request per direction: a double click or a raced retry adds nothing.
            models.UniqueConstraint(
                fields=["from_user", "to_user"],
                condition=models.Q(status="pending"),
                name="accounts_one_pending_friend_request",
            ),
            models.CheckConstraint(condition=~models.Q(from_user=models.F("to_user")), name="accounts_no_self_friend_request"),
        ]
        indexes = [models.Index(fields=["to_user", "status"], name="accounts_friendreq_to_idx")]

    def __str__(self):
        return f"{label_of(self, 'from_user')} -> {label_of(self, 'to_user')} ({self.status})"


class PersonalAccessTokenManager(APIKeyManager):
    """djangorestframework-api-key's manager with our token format, `dpat_<prefix>_<secret>`:
    the library's key generator (random prefix and secret, SHA-512 at rest) hashes the whole
    string; the primary key stays ours (the library's would put the hash in every URL)."""

    key_generator = KeyGenerator(prefix_length=8, secret_key_length=40)

    def assign_key(self, obj) -> str:
        prefix = self.key_generator.get_prefix()
        token = f"{PAT_PREFIX}{prefix}_{self.key_generator.get_secret_key()}"
        obj.prefix = prefix
        obj.hashed_key = self.key_generator.hash(token)
        return token


PAT_PREFIX = "dpat_"


class PersonalAccessToken(AbstractAPIKey):
    """A user's token for scripts and automations: `Authorization: Bearer dpat_<prefix>_<secret>`.

    It acts as its user, limited to `scopes` (kernel.api.scopes) and to the views that declare
    them; it always expires; only the hash is stored. `password_version` is the user's at issue:
    a password change ends every token, as it ends every sign-in."""

    id = models.CharField(primary_key=True, max_length=24, default=new_id, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="personal_access_tokens")
    scopes = models.JSONField(default=list)
    password_version = models.CharField(max_length=12, default="")
    last_used_at = models.DateTimeField(null=True, blank=True)
    # Set by the job that sends the "expires in a week" notice, so each token gets one.
    expiry_notified_at = models.DateTimeField(null=True, blank=True)

    objects = PersonalAccessTokenManager()

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "personal access token"
        verbose_name_plural = "personal access tokens"
        indexes = [
            models.Index(fields=["user", "revoked"], name="accounts_pat_user_idx"),
            models.Index(fields=["expiry_date"], name="accounts_pat_expiry_idx"),
        ]
