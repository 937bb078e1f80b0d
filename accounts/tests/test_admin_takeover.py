"""Lower roles cannot change an equal or higher role's account in the admin: the change form and
the actions are driven as the attacker would (a signed-in staff session posting forms), and
nothing about the target changes."""

# ruff: noqa: F811  (fixtures are imported from deepiri.testing and named as parameters)
from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import User
from deepiri import roles
from deepiri.testing.admin import (  # noqa: F401  (fixtures)
    action,
    admin_user,
    client_as,
    make_role_user,
    plain_user,
    staff_member,
)

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


def test_staff_email_change_of_a_plain_user_needs_the_new_owner_to_confirm(client_as, staff_member, plain_user):
    client = client_as(staff_member)
    response = client.post(change_url(plain_user), form_for(plain_user, email="new-address@example.com"))
    assert response.status_code == 302, response.content.decode()[:2000]
    plain_user.refresh_from_db()
    assert plain_user.email == "plain@example.com"  # unchanged until confirmed
    assert [m.to for m in mail.outbox] == [["new-address@example.com"], ["plain@example.com"]]
    assert "new-address@example.com" in mail.outbox[1].body  # the owner hears of it
    token = mail.outbox[0].body.split("paste this token into the app: ")[1].split()[0]

    # a forged or altered token does nothing
    assert APIClient().post("/api/auth/verify-email", {"token": token[:-2] + "xx"}, format="json").status_code == 400
    done = APIClient().post("/api/auth/verify-email", {"token": token}, format="json")
    assert done.status_code == 200, done.content
    plain_user.refresh_from_db()
    assert plain_user.email == "new-address@example.com"
    # the link is single-use in effect: it names the address it was sent from
    assert APIClient().post("/api/auth/verify-email", {"token": token}, format="json").status_code == 400


def test_admin_with_manage_roles_changes_a_plain_users_email_directly(client_as, admin_user, plain_user):
    response = client_as(admin_user).post(change_url(plain_user), form_for(plain_user, email="moved@example.com"))
    assert response.status_code == 302
    plain_user.refresh_from_db()
    assert plain_user.email == "moved@example.com"
    assert mail.outbox == []


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

