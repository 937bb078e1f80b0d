"""Account enumeration, header injection through names, and password guessing with a stolen
access token — each performed as an attacker would."""

from __future__ import annotations

import pytest

from accounts.models import User
from conftest import client_for

pytestmark = pytest.mark.django_db


def test_search_does_not_reveal_accounts_by_email(make_user):
    victim = make_user(email="quiet.person@example.com", name="Quiet Person")
    searcher = client_for(make_user())
    r = searcher.get("/api/users/search", {"query": "quiet.person@example.com"})
    assert r.status_code == 200
    assert r.json() == [] or r.json().get("data") == []
    by_name = searcher.get("/api/users/search", {"query": "Quiet"}).json()
    rows = by_name if isinstance(by_name, list) else by_name["data"]
    assert [row["id"] for row in rows] == [victim.pk]
    assert "email" not in rows[0]


def test_register_answers_taken_emails_honestly_but_rate_limited(api_client, make_user):
    from rest_framework.settings import api_settings

    assert api_settings.DEFAULT_THROTTLE_RATES["register"] == "10/hour"
    make_user(email="taken@example.com")
    codes = []
    for n in range(13):
        r = api_client.post(
            "/api/auth/register",
            {"name": "Probe", "email": f"probe{n}@example.com" if n % 2 else "taken@example.com", "password": "Probe-Pass-123"},
            format="json",
        )
        codes.append(r.status_code)
    assert codes[0] == 409  # honest: the address is taken (a duplicate, `already_exists`)
    assert 429 not in codes[:10] and codes[10:] == [429, 429, 429], codes
    assert int(r["Retry-After"]) > 0


@pytest.mark.parametrize("name", ["Eve\r\nBcc: all@example.com", "Eve\nMallory", "Null\x00Byte", "Tab\tName", "Line\u2028Sep"])
def test_names_with_control_characters_are_refused(api_client, make_user, name):
    r = api_client.post(
        "/api/auth/register", {"name": name, "email": "eve@example.com", "password": "Eve-Pass-12345"}, format="json"
    )
    assert r.status_code == 400 and "name" in r.json()["errors"], r.content
    assert not User.objects.filter(email="eve@example.com").exists()
    user = make_user(name="Clean Name")
    r = client_for(user).patch("/api/users/profile", {"name": name}, format="json")
    assert r.status_code == 400
    user.refresh_from_db()
    assert user.name == "Clean Name"


def test_account_deletion_password_check_is_throttled(make_user, password):
    from rest_framework.settings import api_settings

    assert api_settings.DEFAULT_THROTTLE_RATES["password_confirm"] == "5/hour"
    user = make_user()
    client = client_for(user)
    codes = [client.delete("/api/users/account", {"password": f"guess-{n}"}, format="json").status_code for n in range(5)]
    assert codes == [401] * 5
    # the sixth try is refused before the password is even checked, the right one included
    r = client.delete("/api/users/account", {"password": password}, format="json")
    assert r.status_code == 429 and int(r["Retry-After"]) > 0
    assert User.objects.filter(pk=user.pk).exists()
    # other endpoints of the same user are not affected
    assert client.get("/api/users/profile").status_code == 200
