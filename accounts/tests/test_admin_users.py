"""The Users admin: list, search, filters, every action, and the role boundaries (issue 8)."""

# ruff: noqa: F811  (fixtures are imported from devtools.testing and named as parameters)
from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tokens import issue_pair
from devtools.testing.admin import (  # noqa: F401  (fixtures)
    action,
    admin_user,
    client_as,
    make_role_user,
    moderator,
    plain_user,
    staff_member,
)
from kernel import roles

CHANGELIST = reverse("admin:accounts_user_changelist")

pytestmark = pytest.mark.django_db


def change_url(user):
    return reverse("admin:accounts_user_change", args=[user.pk])


# --- roles ---------------------------------------------------------------------------------


def test_roles_are_groups_created_by_migration():
    names = set(Group.objects.filter(name__in=roles.ROLE_NAMES).values_list("name", flat=True))
    assert names == set(roles.ROLE_NAMES)
    admin_perms = Group.objects.get(name="admin").permissions.count()
    staff_perms = set(Group.objects.get(name="staff").permissions.values_list("content_type__app_label", "codename"))
    assert ("accounts", "change_user") in staff_perms
    assert ("accounts", "manage_roles") not in staff_perms
    assert ("rest_framework_api_key", "view_apikey") not in staff_perms
    assert ("accounts", "view_scopedapikey") not in staff_perms
    assert admin_perms > len(staff_perms)
    assert Group.objects.get(name="user").permissions.count() == 0
    moderator_apps = set(
        Group.objects.get(name="moderator").permissions.values_list("content_type__app_label", flat=True)
    )
    assert moderator_apps == {"gamification", "challenges"}


def test_role_groups_are_read_only_in_the_admin(client_as, admin_user):
    client = client_as(admin_user)
    staff_group = Group.objects.get(name="staff")
    before = staff_group.permissions.count()
    url = reverse("admin:auth_group_change", args=[staff_group.pk])
    page = client.get(url).content.decode()
    assert 'name="permissions"' not in page
    client.post(url, {"name": "staff"})
    assert staff_group.permissions.count() == before
    assert client.get(reverse("admin:auth_group_delete", args=[staff_group.pk])).status_code == 403
    # another group stays editable
    other = Group.objects.create(name="beta testers")
    assert 'name="permissions"' in client.get(reverse("admin:auth_group_change", args=[other.pk])).content.decode()


def test_set_roles_keeps_is_staff_consistent(make_role_user):
    user = make_role_user()
    assert not user.is_staff
    roles.grant_role(user, roles.MODERATOR)
    user.refresh_from_db()
    assert user.is_staff
    assert roles.roles_of(user) == ["user", "moderator"]
    roles.revoke_role(user, roles.MODERATOR)
    user.refresh_from_db()
    assert not user.is_staff
    assert roles.roles_of(user) == ["user"]
    with pytest.raises(ValueError, match="unknown roles"):
        roles.set_roles(user, ["emperor"])


# --- who may see what --------------------------------------------------------------------------


def test_plain_user_cannot_enter_admin(client_as, plain_user):
    response = client_as(plain_user).get(reverse("admin:index"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_moderator_manages_badges_and_challenges_only(client_as, moderator, plain_user):
    client = client_as(moderator)
    assert client.get(CHANGELIST).status_code == 403
    assert client.get(change_url(plain_user)).status_code == 403
    action(client, CHANGELIST, "deactivate_users", [plain_user.pk])
    plain_user.refresh_from_db()
    assert plain_user.is_active
    index = client.get(reverse("admin:index")).content.decode()
    apps = set(re.findall(r'class="app-([a-z_]+) module', index))
    assert apps == {"gamification", "challenges"}


def test_list_search_and_filters(client_as, staff_member, make_role_user):
    carol = make_role_user(email="carol@example.com", name="Carol Searchable")
    make_role_user(roles.MODERATOR, email="mod2@example.com", name="Modest")
    client = client_as(staff_member)

    response = client.get(CHANGELIST, {"q": "searchable"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "carol@example.com" in body
    assert "mod2@example.com" not in body

    response = client.get(CHANGELIST, {"role": "moderator"})
    body = response.content.decode()
    assert "mod2@example.com" in body
    assert "carol@example.com" not in body

    carol.is_active = False
    carol.save()
    body = client.get(CHANGELIST, {"is_active__exact": "0"}).content.decode()
    assert "carol@example.com" in body
    assert "mod2@example.com" not in body


def test_changelist_query_count_is_constant(client_as, staff_member, make_role_user, django_assert_max_num_queries):
    client = client_as(staff_member)
    for _ in range(3):
        make_role_user()
    client.get(CHANGELIST)  # warm caches (content types, permissions)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        assert client.get(CHANGELIST).status_code == 200
    for _ in range(12):
        make_role_user(roles.MODERATOR)
    with CaptureQueriesContext(connection) as large:
        assert client.get(CHANGELIST).status_code == 200
    assert len(large.captured_queries) == len(small.captured_queries)


# --- actions -----------------------------------------------------------------------------------


def test_deactivate_revokes_tokens_and_activate_restores_login(client_as, staff_member, plain_user, password):
    pair = issue_pair(plain_user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['token']}")
    assert api.get("/api/auth/verify").status_code == 200

    response = action(client_as(staff_member), CHANGELIST, "deactivate_users", [plain_user.pk])
    assert response.status_code == 302
    plain_user.refresh_from_db()
    assert not plain_user.is_active

    # the access token no longer works, nor can the refresh token mint a new one
    assert api.get("/api/auth/verify").status_code == 401
    refreshed = APIClient().post("/api/auth/refresh", {"refreshToken": pair["refresh_token"]}, format="json")
    assert refreshed.status_code in (401, 403)
    assert "token" not in refreshed.json().get("data", {})
    login = APIClient().post("/api/auth/login", {"email": plain_user.email, "password": password}, format="json")
    assert login.status_code in (401, 403)

    action(client_as(staff_member), CHANGELIST, "activate_users", [plain_user.pk])
    plain_user.refresh_from_db()
    assert plain_user.is_active
    login = APIClient().post("/api/auth/login", {"email": plain_user.email, "password": password}, format="json")
    assert login.status_code == 200
    # the old refresh token stays dead after reactivation (blacklisted, not merely refused)
    refreshed = APIClient().post("/api/auth/refresh", {"refreshToken": pair["refresh_token"]}, format="json")
    assert refreshed.status_code in (401, 403)
    assert refreshed.json()["success"] is False


def test_staff_cannot_deactivate_themselves(client_as, staff_member):
    response = action(client_as(staff_member), CHANGELIST, "deactivate_users", [staff_member.pk])
    assert response.status_code == 302
    staff_member.refresh_from_db()
    assert staff_member.is_active


def test_only_admin_grants_and_revokes_staff(client_as, staff_member, admin_user, plain_user):
    # staff: the action is not even offered, and posting it does nothing
    body = client_as(staff_member).get(CHANGELIST).content.decode()
    assert "grant_staff_role" not in body
    action(client_as(staff_member), CHANGELIST, "grant_staff_role", [plain_user.pk])
    plain_user.refresh_from_db()
    assert not plain_user.is_staff

    client = client_as(admin_user)
    assert "grant_staff_role" in client.get(CHANGELIST).content.decode()
    action(client, CHANGELIST, "grant_staff_role", [plain_user.pk])
    plain_user = User.objects.get(pk=plain_user.pk)
    assert plain_user.is_staff
    assert roles.roles_of(plain_user) == ["user", "staff"]
    # the new staff member can now use the admin
    assert client_as(plain_user).get(CHANGELIST).status_code == 200

    action(client, CHANGELIST, "revoke_staff_role", [plain_user.pk])
    plain_user = User.objects.get(pk=plain_user.pk)
    assert not plain_user.is_staff
    assert roles.roles_of(plain_user) == ["user"]
    assert client_as(plain_user).get(CHANGELIST).status_code == 302


def test_change_roles_form(client_as, admin_user, plain_user):
    client = client_as(admin_user)
    page = action(client, CHANGELIST, "change_roles", [plain_user.pk])
    assert page.status_code == 200
    assert "Change roles" in page.content.decode()

    bad = action(
        client, CHANGELIST, "change_roles", [plain_user.pk], apply="1", grant=["moderator"], revoke=["moderator"]
    )
    assert bad.status_code == 200
    assert "Cannot both grant and revoke" in bad.content.decode()

    done = action(client, CHANGELIST, "change_roles", [plain_user.pk], apply="1", grant=["moderator", "admin"])
    assert done.status_code == 302
    assert roles.roles_of(User.objects.get(pk=plain_user.pk)) == ["user", "admin", "moderator"]


def test_send_password_reset_uses_the_accounts_flow(client_as, staff_member, plain_user):
    response = action(client_as(staff_member), CHANGELIST, "send_password_reset", [plain_user.pk])
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [plain_user.email]
    token = message.body.split("paste this token into the app: ")[1].split()[0]
    reset = APIClient().post(
        "/api/auth/reset-password", {"token": token, "newPassword": "A-new-Passw0rd!"}, format="json"
    )
    assert reset.status_code == 200
    login = APIClient().post(
        "/api/auth/login", {"email": plain_user.email, "password": "A-new-Passw0rd!"}, format="json"
    )
    assert login.status_code == 200


def test_export_downloads_the_users_data(client_as, staff_member, plain_user):
    response = action(client_as(staff_member), CHANGELIST, "export_data", [plain_user.pk])
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert f"deepiri-export-{plain_user.pk}.json" in response["Content-Disposition"]
    data = json.loads(response.content)
    assert data["user"]["email"] == plain_user.email
    assert "password" not in json.dumps(data)


def test_moderator_cannot_export(client_as, moderator, plain_user):
    response = action(client_as(moderator), CHANGELIST, "export_data", [plain_user.pk])
    assert response["Content-Type"] != "application/json"


def test_add_user_goes_through_registration(client_as, staff_member):
    client = client_as(staff_member)
    url = reverse("admin:accounts_user_add")
    bad = client.post(
        url, {"email": "new@example.com", "name": "New", "timezone": "UTC", "password1": "x", "password2": "y"}
    )
    assert bad.status_code == 200
    assert not User.objects.filter(email="new@example.com").exists()
    bad_tz = client.post(
        url,
        {
            "email": "new@example.com",
            "name": "New",
            "timezone": "Mars/Base",
            "password1": "Str0ng-Pass!",
            "password2": "Str0ng-Pass!",
        },
    )
    assert bad_tz.status_code == 200
    assert not User.objects.filter(email="new@example.com").exists()
    ok = client.post(
        url,
        {
            "email": "New@Example.com",
            "name": "New",
            "timezone": "Europe/Paris",
            "password1": "Str0ng-Pass!",
            "password2": "Str0ng-Pass!",
        },
    )
    assert ok.status_code == 302, ok.content.decode()[:2000]
    created = User.objects.get(email="new@example.com")
    assert created.check_password("Str0ng-Pass!")
    assert roles.roles_of(created) == ["user"]
    assert created.groups.filter(name="user").exists()


INLINE_MANAGEMENT = {
    "user_badges-TOTAL_FORMS": "0",
    "user_badges-INITIAL_FORMS": "0",
    "user_badges-MIN_NUM_FORMS": "0",
    "user_badges-MAX_NUM_FORMS": "1000",
}


def test_edit_user_profile_but_not_status(client_as, staff_member, plain_user):
    client = client_as(staff_member)
    response = client.post(
        change_url(plain_user),
        {
            "email": plain_user.email,
            "name": "Renamed",
            "timezone": "Asia/Tokyo",
            "bio": "",
            "profile_picture": "",
            "preferences": "{}",
            "is_active": "",  # read-only: ignored
            "is_staff": "on",
            **INLINE_MANAGEMENT,
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    plain_user.refresh_from_db()
    assert plain_user.name == "Renamed"
    assert plain_user.timezone == "Asia/Tokyo"
    assert plain_user.is_active
    assert not plain_user.is_staff
    bad = client.post(
        change_url(plain_user),
        {
            "email": plain_user.email,
            "name": "X",
            "timezone": "Nowhere/City",
            "bio": "",
            "profile_picture": "",
            "preferences": "{}",
            **INLINE_MANAGEMENT,
        },
    )
    assert bad.status_code == 200
    assert "Nowhere/City" in bad.content.decode()
    assert 'class="errorlist' in bad.content.decode()
    plain_user.refresh_from_db()
    assert plain_user.timezone == "Asia/Tokyo"


def test_only_admin_deletes_users(client_as, staff_member, admin_user, plain_user):
    delete_url = reverse("admin:accounts_user_delete", args=[plain_user.pk])
    assert client_as(staff_member).get(delete_url).status_code == 403
    assert client_as(admin_user).post(delete_url, {"post": "yes"}).status_code == 302
    assert not User.objects.filter(pk=plain_user.pk).exists()
