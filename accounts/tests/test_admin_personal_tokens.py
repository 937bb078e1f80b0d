"""Staff see users' personal access tokens (never the secret or its hash) and revoke them."""

# ruff: noqa: F811  (fixtures are imported from devtools.testing and named as parameters)
from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import personal_tokens
from accounts.models import PersonalAccessToken
from devtools.testing.admin import admin_user, client_as, make_role_user, moderator, staff_member  # noqa: F401

pytestmark = pytest.mark.django_db

LIST = reverse("admin:accounts_personalaccesstoken_changelist")


def _token(user, name="deploy bot"):
    return personal_tokens.create_token(
        user, name=name, scopes=["tasks:read"], expires_at=timezone.now() + timedelta(days=30)
    )


def _works(raw) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client.get("/api/tasks").status_code


def test_staff_see_tokens_without_secret_or_hash(client_as, staff_member, user):
    pat, raw = _token(user)
    client = client_as(staff_member)
    listing = client.get(LIST).content.decode()
    page = client.get(reverse("admin:accounts_personalaccesstoken_change", args=[pat.pk])).content.decode()
    for body in (listing, page):
        assert "deploy bot" in body and pat.prefix in body and "tasks:read" in body and user.email in body
        assert raw not in body and raw.split("_")[2] not in body and pat.hashed_key not in body
        assert pat.hashed_key.split("$$")[1] not in body
    assert client.get(reverse("admin:accounts_personalaccesstoken_add")).status_code == 403


def test_staff_revoke_a_token_and_its_next_request_is_refused(client_as, staff_member, user):
    pat, raw = _token(user)
    assert _works(raw) == 200  # cached now
    response = client_as(staff_member).post(
        LIST, {"action": "revoke_tokens", "_selected_action": [pat.pk]}, follow=True
    )
    assert response.status_code == 200
    assert PersonalAccessToken.objects.get(pk=pat.pk).revoked
    assert _works(raw) == 401


def test_staff_cannot_revoke_tokens_of_equal_or_higher_accounts(client_as, staff_member, admin_user):
    pat, raw = _token(admin_user)
    client_as(staff_member).post(LIST, {"action": "revoke_tokens", "_selected_action": [pat.pk]}, follow=True)
    assert not PersonalAccessToken.objects.get(pk=pat.pk).revoked
    assert _works(raw) == 200


def test_moderators_and_plain_users_do_not_see_tokens(client_as, moderator, user):
    _token(user)
    assert client_as(moderator).get(LIST).status_code == 403
