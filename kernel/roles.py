"""Roles: four auth groups with the admin permissions each one holds.

    user       every account; no admin permission at all.
    moderator  manages badges (catalogue, awards) and challenges only.
    staff      sees everything staff need and runs the content actions (users' activation,
               password resets, gamification recompute, exports, badges, tasks, challenges,
               integrations, announcements, schedules) but not roles and not API keys.
    admin      everything, including roles (`accounts.manage_roles`) and API keys.

The permissions of the four groups are defined here, in code, and re-applied on every migrate:
the admin shows them read-only (other groups stay editable).

A user's roles are the names of their groups; `is_staff` (may sign in to /admin/) is kept true
exactly when the user holds one of `staff`, `moderator`, `admin` (or is a superuser).

The groups are created by the data migration `kernel/migrations/0001_roles.py`; their permissions
are (re)synchronised after every `migrate` by a post_migrate handler (see `kernel.admin_apps`),
because the models whose permissions they hold arrive in other apps' migrations. `sync_roles()` is
idempotent and adds no permission that does not exist.
"""

from __future__ import annotations

from django.apps import apps as global_apps
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group
from django.db import transaction
from django_otp import DEVICE_ID_SESSION_KEY, user_has_device
from django_otp.models import Device

USER, STAFF, ADMIN, MODERATOR = "user", "staff", "admin", "moderator"
ROLE_NAMES = (USER, STAFF, ADMIN, MODERATOR)
STAFF_ROLES = frozenset({STAFF, ADMIN, MODERATOR})

# Permissions we define ourselves, attached to an existing model's content type:
# (app_label, model, codename, name).
CUSTOM_PERMISSIONS = [
    ("accounts", "user", "manage_roles", "Can grant and revoke roles (staff, admin, moderator)"),
    ("notifications", "notification", "send_announcement", "Can send announcements to users"),
]


def _crud(app_label: str, model: str, *actions: str) -> list[str]:
    return [f"{app_label}.{action}_{model}" for action in actions]


ALL = ("add", "change", "delete", "view")

MODERATOR_PERMISSIONS = [
    *_crud("gamification", "badge", *ALL),
    *_crud("gamification", "userbadge", *ALL),
    *_crud("challenges", "challenge", "view", "change"),
]

STAFF_PERMISSIONS = [
    *MODERATOR_PERMISSIONS,
    *_crud("accounts", "user", "view", "add", "change"),
    *_crud("token_blacklist", "outstandingtoken", "view"),
    # Users' personal access tokens: seen, and revoked through the admin action (no secret shown).
    *_crud("accounts", "personalaccesstoken", "view", "change"),
    *_crud("tasks", "task", "view", "change"),
    *_crud("challenges", "challenge", "view", "change", "delete"),
    *_crud("gamification", "ledgerentry", "view"),
    *_crud("gamification", "pointsledger", "view"),
    *_crud("gamification", "userstats", "view"),
    *_crud("gamification", "gamificationprofile", "view"),
    *_crud("integrations", "integration", "view", "change"),
    *_crud("integrations", "integrationconnection", "view", "change"),
    *_crud("integrations", "connection", "view", "change"),
    *_crud("integrations", "syncrun", "view"),
    # Outgoing webhooks: endpoints seen; deliveries seen and sent again ("change": the resend action).
    *_crud("integrations", "webhookendpoint", "view"),
    *_crud("integrations", "endpointdelivery", "view", "change"),
    *_crud("notifications", "notification", "view", "add", "delete"),
    "notifications.send_announcement",
    # The timing of the app's own jobs only: adding a periodic task picks a Celery task and its
    # arguments, which is running code (admins only; see accounts/admin_schedules.py).
    *_crud("django_celery_beat", "periodictask", "view", "change"),
    *_crud("django_celery_beat", "intervalschedule", *ALL),
    *_crud("django_celery_beat", "crontabschedule", *ALL),
    *_crud("django_celery_beat", "solarschedule", "view"),
    *_crud("django_celery_beat", "clockedschedule", *ALL),
    # Jobs waiting in the outbox and jobs that failed: seen, and re-run ("change").
    *_crud("deepiri", "outboxjob", "view", "change"),
    *_crud("deepiri", "jobfailure", "view", "change"),
]

ROLE_PERMISSIONS: dict[str, list[str] | str] = {
    USER: [],
    MODERATOR: MODERATOR_PERMISSIONS,
    STAFF: STAFF_PERMISSIONS,
    ADMIN: "*",  # every permission there is
}


def sync_roles(apps=None, using: str = "default", *, create: bool = True) -> None:
    """Give each of the four groups exactly its permissions (those that exist); create the groups
    unless `create` is False."""
    if apps is None:
        apps = global_apps
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")

    for app_label, model, codename, name in CUSTOM_PERMISSIONS:
        content_type = ContentType.objects.using(using).filter(app_label=app_label, model=model).first()
        if content_type is not None:
            Permission.objects.using(using).get_or_create(
                content_type=content_type, codename=codename, defaults={"name": name}
            )

    by_key = {
        f"{app_label}.{codename}": pk
        for pk, app_label, codename in Permission.objects.using(using).values_list(
            "pk", "content_type__app_label", "codename"
        )
    }
    for role in ROLE_NAMES:
        if create:
            group, _ = Group.objects.using(using).get_or_create(name=role)
        else:
            group = Group.objects.using(using).filter(name=role).first()
            if group is None:
                continue
        wanted = ROLE_PERMISSIONS[role]
        ids = set(by_key.values()) if wanted == "*" else {by_key[key] for key in wanted if key in by_key}
        current = set(group.permissions.values_list("pk", flat=True))
        if current != ids:
            group.permissions.set(ids)


def post_migrate_sync(sender, app_config=None, using="default", apps=None, **kwargs) -> None:
    """post_migrate receiver: once the last app has migrated, make sure every model's permission
    rows exist (Django creates them per app, in the same signal) and resync the groups' permissions.

    It never creates the groups (the data migration does): post_migrate also follows the flush
    of transactional tests, and groups created then would collide with the rows a
    `serialized_rollback` test restores."""
    configs = [config for config in global_apps.get_app_configs() if config.models_module is not None]
    if getattr(sender, "label", None) != configs[-1].label:
        return
    for config in configs:
        create_permissions(config, verbosity=0, using=using, apps=global_apps)
    sync_roles(using=using, create=False)


def roles_of(user) -> list[str]:
    """The user's role names, `user` first; superusers also hold `admin`."""
    names = {group.name for group in user.groups.all() if group.name in ROLE_NAMES}
    if getattr(user, "is_superuser", False):
        names.add(ADMIN)
    names.add(USER)
    return sorted(names, key=ROLE_NAMES.index)


@transaction.atomic
def set_roles(user, roles) -> list[str]:
    """Give `user` exactly `roles` (plus `user`), keeping `is_staff` consistent. Returns the roles."""
    unknown = set(roles) - set(ROLE_NAMES)
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")
    wanted = set(roles) | {USER}
    sync_needed = Group.objects.filter(name__in=ROLE_NAMES).count() != len(ROLE_NAMES)
    if sync_needed:
        sync_roles()
    others = user.groups.exclude(name__in=ROLE_NAMES)
    user.groups.set([*others, *Group.objects.filter(name__in=wanted)])
    is_staff = bool(wanted & STAFF_ROLES) or user.is_superuser
    if user.is_staff != is_staff:
        user.is_staff = is_staff
        user.save(update_fields=["is_staff"])
    return roles_of(user)


# Who may change whose account: a role ranks above the roles it could be granted by. A
# superuser ranks above every role.
RANK = {USER: 0, MODERATOR: 1, STAFF: 2, ADMIN: 3}
SUPERUSER_RANK = 4


def rank_of(user) -> int:
    if getattr(user, "is_superuser", False):
        return SUPERUSER_RANK
    return max(RANK[name] for name in roles_of(user))


def may_change(actor, target) -> bool:
    """True when `actor` may change `target`'s account (email, password, active flag, roles,
    points): only from a strictly higher rank, so nobody takes over an equal or a superior,
    themselves included. A superuser may change any account (someone must be able to)."""
    if getattr(actor, "is_superuser", False):
        return True
    return rank_of(actor) > rank_of(target)


def _group_roles(user) -> set[str]:
    return {group.name for group in user.groups.all() if group.name in ROLE_NAMES}


def grant_role(user, role: str) -> list[str]:
    return set_roles(user, _group_roles(user) | {role})


def revoke_role(user, role: str) -> list[str]:
    if role == USER:
        raise ValueError("every account holds the user role")
    return set_roles(user, _group_roles(user) - {role})


def may_act_on(actor, target) -> bool:
    """True when `actor` may read, mail or change what `target` owns through the admin (export
    their data, send them a reset link, delete their tasks, revoke their badges): their own
    account, or one they may change. A lower role never reaches a higher account's data."""
    return getattr(actor, "pk", None) == getattr(target, "pk", object()) or may_change(actor, target)


def refused_message(target) -> str:
    return f"Only a higher role may act on {target.email} ({', '.join(roles_of(target))})."


def second_factor_required(user) -> bool:
    """A staff member who set up an authenticator (TOTP device) always signs in with its code;
    with ADMIN_REQUIRE_2FA, so does every holder of the admin role (superusers included)."""
    if user_has_device(user, confirmed=True):
        return True
    return settings.ADMIN_REQUIRE_2FA and rank_of(user) >= RANK[ADMIN]


def session_passed_second_factor(request, user) -> bool:
    """True when `request` carries a Django session of `user` that was verified with one of
    their confirmed authenticators (django-otp's login marks the session with the device)."""
    session = getattr(getattr(request, "_request", request), "session", None)
    if session is None or str(session.get(SESSION_KEY)) != str(user.pk):
        return False
    persistent_id = session.get(DEVICE_ID_SESSION_KEY)
    device = Device.from_persistent_id(persistent_id) if persistent_id else None
    return device is not None and device.user_id == user.pk and device.confirmed
