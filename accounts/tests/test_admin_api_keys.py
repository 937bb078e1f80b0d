"""API keys for machine clients, and the secrets the admin never shows (issue 8)."""

# ruff: noqa: F811  (fixtures are imported from devtools.testing and named as parameters)
from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.urls import reverse

from accounts.models import ScopedAPIKey
from accounts.tokens import issue_pair
from devtools.testing.admin import admin_user, client_as, make_role_user, moderator, staff_member  # noqa: F401

pytestmark = pytest.mark.django_db

KEYS = reverse("admin:accounts_scopedapikey_changelist")
KEY_ADD = reverse("admin:accounts_scopedapikey_add")


def test_admin_issues_a_scoped_key_shown_once(client_as, admin_user):
    client = client_as(admin_user)
    response = client.post(
        KEY_ADD, {"name": "metrics scraper", "scope": "metrics", "expiry_date_0": "", "expiry_date_1": ""}, follow=True
    )
    assert response.status_code == 200
    text = " ".join(m.message for m in response.context["messages"])
    key = re.search(r"The API key for metrics scraper is: (\S+)\.", text).group(1)
    api_key = ScopedAPIKey.objects.get(name="metrics scraper")
    assert api_key.scope == "metrics"
    assert ScopedAPIKey.objects.is_valid(key)
    assert key not in api_key.hashed_key  # only the hash is stored
    # the key never appears again: not on the list, not on its page
    assert key not in client.get(KEYS).content.decode()
    page = client.get(reverse("admin:accounts_scopedapikey_change", args=[api_key.pk])).content.decode()
    assert key not in page
    assert api_key.hashed_key not in page

    # revoking it makes it invalid
    response = client.post(
        reverse("admin:accounts_scopedapikey_change", args=[api_key.pk]),
        {"name": "metrics scraper", "revoked": "on", "expiry_date_0": "", "expiry_date_1": ""},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert not ScopedAPIKey.objects.is_valid(key)


def test_bad_scope_is_refused(client_as, admin_user):
    response = client_as(admin_user).post(
        KEY_ADD, {"name": "x", "scope": "root", "expiry_date_0": "", "expiry_date_1": ""}
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not ScopedAPIKey.objects.exists()


def test_only_admins_manage_api_keys(client_as, staff_member, moderator):
    for user in (staff_member, moderator):
        client = client_as(user)
        assert client.get(KEYS).status_code == 403
        assert client.post(KEY_ADD, {"name": "sneaky", "scope": "read"}).status_code == 403
    assert not ScopedAPIKey.objects.exists()


def test_secret_bearing_third_party_admins_are_replaced(client_as, admin_user):
    from allauth.socialaccount.models import SocialToken
    from rest_framework_api_key.models import APIKey
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    assert not admin.site.is_registered(APIKey)
    assert not admin.site.is_registered(SocialToken)
    pair = issue_pair(admin_user)
    token = OutstandingToken.objects.get(user=admin_user)
    client = client_as(admin_user)
    listing = client.get(reverse("admin:token_blacklist_outstandingtoken_changelist")).content.decode()
    page = client.get(reverse("admin:token_blacklist_outstandingtoken_change", args=[token.pk])).content.decode()
    assert token.jti in listing
    for body in (listing, page):
        assert pair["refresh_token"] not in body
        assert token.token not in body
