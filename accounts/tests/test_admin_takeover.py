"""Lower roles cannot change an equal or higher role's account in the admin: the change form and
the actions are driven as the attacker would (a signed-in staff session posting forms), and
nothing about the target changes."""

# ruff: noqa: F811  (fixtures are imported from devtools.testing and named as parameters)
from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import User
from devtools.testing.admin import (  # noqa: F401  (fixtures)
    action,
    admin_user,
    client_as,
    make_role_user,
    plain_user,
    staff_member,
)
from kernel import roles

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:accounts_user_changelist")
INLINE_MANAGEMENT = {
    "user_badges-TOTAL_FORMS": "0",
    "user_badges-INITIAL_FORMS": "0",
    "user_badges-MIN_NUM_FORMS": "0",
    "user_badges-MAX_NUM_FORMS": "1000",
}


def change_url(user):
    return reverse("admin:accounts_user_change", args=[user.pk])


def form_for(user, **over):
    return {
        "email": user.email,
        "name": user.name,
        "timezone": user.timezone,
        "bio": user.bio,
        "profile_picture": user.profile_picture,
        "preferences": "{}",
        **INLINE_MANAGEMENT,
        **over,
    }


@pytest.fixture
def superuser(db, password):
    return User.objects.create_superuser(email="root@example.com", password=password, name="Root")


def snapshot(user):
    user = User.objects.get(pk=user.pk)
    return (user.email, user.password, user.is_active, user.is_staff, user.is_superuser, tuple(roles.roles_of(user)))


@pytest.mark.parametrize("target_role", ["superuser", "admin", "staff-peer", "self"])
def test_staff_cannot_edit_an_equal_or_higher_account(client_as, staff_member, make_role_user, superuser, target_role):
    target = {
        "superuser": superuser,
        "admin": make_role_user(roles.ADMIN),
        "staff-peer": make_role_user(roles.STAFF),
        "self": staff_member,
    }[target_role]
    before = snapshot(target)
    client = client_as(staff_member)
    # the page opens read-only: no editable email field
    page = client.get(change_url(target))
    assert page.status_code == 200
    assert 'name="email"' not in page.content.decode()
    # the takeover step of the review: post the attacker's address into the change form
    response = client.post(change_url(target), form_for(target, email="attacker@evil.example"))
    assert response.status_code == 403
    assert snapshot(target) == before
    assert mail.outbox == []
    # and "forgot password" for the attacker's address reaches nobody
    APIClient().post("/api/auth/forgot-password", {"email": "attacker@evil.example"}, format="json")
    assert mail.outbox == []


def _tokens_in(message):
    return [part.split()[0] for part in message.body.split("paste this token into the app: ")[1:]]


def _attempt_takeover(target, attacker_email):
    """What a staff member who controls `attacker_email` does next: follow every link that
    reached that address, then ask for a password reset of it and use the link."""
    for message in [m for m in mail.outbox if attacker_email in m.to]:
        for token in _tokens_in(message):
            APIClient().post("/api/auth/verify-email", {"token": token}, format="json")
    mail.outbox.clear()
    APIClient().post("/api/auth/forgot-password", {"email": attacker_email}, format="json")
    for message in [m for m in mail.outbox if attacker_email in m.to]:
        for token in _tokens_in(message):
            APIClient().post(
                "/api/auth/reset-password", {"token": token, "newPassword": "Attacker-Owns-1t!"}, format="json"
            )
    return APIClient().post(
        "/api/auth/login", {"email": attacker_email, "password": "Attacker-Owns-1t!"}, format="json"
    )


@pytest.mark.parametrize("target_role", ["user", "moderator"])
def test_staff_email_change_of_a_lower_account_needs_the_old_owners_approval(
    client_as, staff_member, make_role_user, target_role
):
    target = make_role_user(*([] if target_role == "user" else [target_role]))
    old_email = target.email
    response = client_as(staff_member).post(change_url(target), form_for(target, email="attacker@evil.example"))
    assert response.status_code == 302, response.content.decode()[:2000]
    target.refresh_from_db()
    assert target.email == old_email  # unchanged until the owner approves
    # the only mail goes to the address the account has now, and names who asked and for what
    assert [m.to for m in mail.outbox] == [[old_email]]
    approval = mail.outbox[0]
    assert "attacker@evil.example" in approval.body and staff_member.email in approval.body

    # the attack of the review: nothing reaches the staff member's address, the reset goes nowhere
    login = _attempt_takeover(target, "attacker@evil.example")
    assert login.status_code == 401
    target.refresh_from_db()
    assert target.email == old_email and not target.check_password("Attacker-Owns-1t!")

    # the owner approves: the move happens, and the new address is not taken as proven
    token = _tokens_in(approval)[0]
    assert APIClient().post("/api/auth/verify-email", {"token": token[:-2] + "xx"}, format="json").status_code == 400
    mail.outbox.clear()
    done = APIClient().post("/api/auth/verify-email", {"token": token}, format="json")
    assert done.status_code == 200, done.content
    target.refresh_from_db()
    assert target.email == "attacker@evil.example"
    from accounts.services import is_email_verified

    assert not is_email_verified(target)
    assert [m.to for m in mail.outbox] == [["attacker@evil.example"]]  # its own verification link
    # the approval is spent once the address changed
    assert APIClient().post("/api/auth/verify-email", {"token": token}, format="json").status_code == 400


def test_a_change_link_mailed_to_the_new_address_by_the_previous_release_is_refused(plain_user):
    from django.core import signing

    legacy = signing.dumps(
        {"u": plain_user.pk, "e": "attacker@evil.example", "f": plain_user.email},
        salt="accounts.verify-email",
        compress=True,
    )
    response = APIClient().post("/api/auth/verify-email", {"token": legacy}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["token"]
    plain_user.refresh_from_db()
    assert plain_user.email == "plain@example.com"


def test_admin_with_manage_roles_changes_a_plain_users_email_directly_audited_and_told(
    client_as, admin_user, plain_user
):
    from django.contrib.admin.models import LogEntry

    response = client_as(admin_user).post(change_url(plain_user), form_for(plain_user, email="moved@example.com"))
    assert response.status_code == 302
    plain_user.refresh_from_db()
    assert plain_user.email == "moved@example.com"
    told, verification = mail.outbox
    assert told.to == ["plain@example.com"]
    assert "moved@example.com" in told.body and admin_user.email in told.body
    assert verification.to == ["moved@example.com"]
    entries = [e.get_change_message() for e in LogEntry.objects.filter(object_id=plain_user.pk, user=admin_user)]
    assert "Email changed from plain@example.com to moved@example.com; the old address was told." in entries


def test_admin_cannot_edit_another_admin_or_a_superuser(client_as, admin_user, make_role_user, superuser):
    other_admin = make_role_user(roles.ADMIN)
    for target in (other_admin, superuser):
        before = snapshot(target)
        response = client_as(admin_user).post(change_url(target), form_for(target, email="attacker@evil.example"))
        assert response.status_code == 403
        assert snapshot(target) == before
        assert client_as(admin_user).get(reverse("admin:accounts_user_delete", args=[target.pk])).status_code == 403


def test_superuser_may_edit_any_account(client_as, superuser, admin_user):
    response = client_as(superuser).post(change_url(admin_user), form_for(admin_user, name="Renamed Admin"))
    assert response.status_code == 302
    admin_user.refresh_from_db()
    assert admin_user.name == "Renamed Admin"


def test_activate_and_deactivate_actions_refuse_equal_or_higher_roles(client_as, staff_member, make_role_user, superuser):
    suspended_admin = make_role_user(roles.ADMIN, is_active=False)
    suspended_staff = make_role_user(roles.STAFF, is_active=False)
    suspended_user = make_role_user(is_active=False)
    client = client_as(staff_member)
    action(client, CHANGELIST, "activate_users", [suspended_admin.pk, suspended_staff.pk, suspended_user.pk])
    assert not User.objects.get(pk=suspended_admin.pk).is_active
    assert not User.objects.get(pk=suspended_staff.pk).is_active
    assert User.objects.get(pk=suspended_user.pk).is_active  # a lower role: allowed

    active_admin = make_role_user(roles.ADMIN)
    action(client, CHANGELIST, "deactivate_users", [active_admin.pk, superuser.pk])
    assert User.objects.get(pk=active_admin.pk).is_active
    assert User.objects.get(pk=superuser.pk).is_active


def test_adjust_points_refuses_equal_or_higher_roles(client_as, staff_member, make_role_user):
    from gamification.models import GamificationProfile

    peer = make_role_user(roles.STAFF)
    action(
        client_as(staff_member), CHANGELIST, "adjust_points", [peer.pk, staff_member.pk],
        apply="1", points="500", reason="self-service", key="k1",
    )
    assert not GamificationProfile.objects.filter(user__in=[peer, staff_member], points__gt=0).exists()

