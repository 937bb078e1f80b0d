"""Revoked sign-ins stay revoked when Redis loses its data: PostgreSQL holds the revocation
(`TokenFamily.revoked_at`), Redis a read-through copy. And the rows expire (the purge job)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts import tokens
from accounts.models import TokenFamily
from accounts.tests.test_auth_cache import redis_round_trips  # noqa: F401, F811 (fixture)
from kernel.redis import get_redis


def _lose_redis():
    """What a Redis restart without persistence (or a restore beside an empty Redis) leaves."""
    get_redis().flushdb()
    cache.clear()


def _verify(token) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get("/api/auth/verify").status_code


@pytest.mark.django_db
@pytest.mark.parametrize("logout_with", ["access", "refresh"])
def test_a_logged_out_access_token_stays_refused_after_redis_loses_its_data(make_user, logout_with):
    user = make_user()
    pair, other = tokens.issue_pair(user), tokens.issue_pair(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['token']}")
    body = {"refreshToken": pair["refresh_token"]} if logout_with == "refresh" else {}
    assert client.post("/api/auth/logout", body, format="json").status_code == 200
    assert _verify(pair["token"]) == 401

    _lose_redis()
    assert _verify(pair["token"]) == 401
    assert _verify(other["token"]) == 200  # the other device's sign-in is untouched
    # and once the copy is back in Redis the answer is the same
    assert cache.get(f"{tokens.FAMILY_KEY_PREFIX}{AccessToken(pair['token'])[tokens.FAMILY_CLAIM]}") == 1
    assert _verify(pair["token"]) == 401


@pytest.mark.django_db
def test_a_password_change_revokes_every_sign_in_in_the_cache_too(make_user):
    user = make_user()
    pair = tokens.issue_pair(user)
    assert _verify(pair["token"]) == 200  # the family is cached as live
    assert tokens.revoke_all(user) == 1
    family = TokenFamily.objects.get(user=user)
    assert cache.get(f"{tokens.FAMILY_KEY_PREFIX}{family.pk}") == 1


@pytest.mark.django_db
def test_a_token_of_a_family_this_database_never_had_is_refused(make_user):
    """After restoring a backup older than a sign-in, that sign-in's tokens name no row."""
    user = make_user()
    pair = tokens.issue_pair(user)
    TokenFamily.objects.filter(user=user).delete()
    _lose_redis()
    assert _verify(pair["token"]) == 401


def test_a_signed_in_request_after_redis_lost_its_data_heals_to_one_round_trip(auth_client, redis_round_trips, settings):  # noqa: F811
    if "django_redis" not in settings.CACHES["default"]["BACKEND"]:
        pytest.skip("needs the Redis cache")
    _lose_redis()
    assert auth_client.get("/api/users/profile").status_code == 200  # reads the family row, caches it
    redis_round_trips.clear()
    assert auth_client.get("/api/users/profile").status_code == 200
    assert len(redis_round_trips) == 1, redis_round_trips


@pytest.mark.django_db
def test_purge_drops_only_rows_past_every_lifetime_and_is_safe_twice(make_user, settings):
    user = make_user()
    live, revoked_recently, revoked_long_ago, abandoned = (tokens.issue_pair(user) for _ in range(4))
    families = {f.current_jti: f.pk for f in TokenFamily.objects.all()}
    def family_of(pair):
        return families[RefreshToken(pair["refresh_token"])["jti"]]

    now = timezone.now()
    access = settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]
    refresh = settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"]
    TokenFamily.objects.filter(pk=family_of(revoked_recently)).update(revoked_at=now - access / 2)
    TokenFamily.objects.filter(pk=family_of(revoked_long_ago)).update(revoked_at=now - access - timedelta(minutes=2))
    TokenFamily.objects.filter(pk=family_of(abandoned)).update(created_at=now - refresh - timedelta(minutes=2))
    OutstandingToken.objects.filter(jti=RefreshToken(abandoned["refresh_token"])["jti"]).update(expires_at=now - timedelta(seconds=1))

    first = tokens.purge_expired()
    assert first == {"families": 2, "outstanding": 1}
    assert set(TokenFamily.objects.values_list("pk", flat=True)) == {family_of(live), family_of(revoked_recently)}
    assert tokens.purge_expired() == {"families": 0, "outstanding": 0}
    _lose_redis()
    assert _verify(revoked_long_ago["token"]) == 401
    assert _verify(live["token"]) == 200


@pytest.mark.django_db
def test_beat_runs_the_purge_by_name(settings):
    from kernel import jobs

    entry = settings.CELERY_BEAT_SCHEDULE["accounts-purge-expired-tokens"]
    result = jobs.task_named(entry["task"]).apply().get()
    assert result == {"families": 0, "outstanding": 0}


@pytest.mark.django_db
def test_a_live_sign_in_writes_no_deny_entry_the_previous_release_would_read_as_revoked(make_user):
    """During a rolling deploy the previous release refuses a token whose family deny key exists,
    whatever it holds: a live sign-in is cached under a key of its own."""
    user = make_user()
    pair = tokens.issue_pair(user)
    family = AccessToken(pair["token"])[tokens.FAMILY_CLAIM]
    assert _verify(pair["token"]) == 200
    _lose_redis()
    assert _verify(pair["token"]) == 200  # read from the row, cached again as live
    assert cache.get(f"{tokens.FAMILY_KEY_PREFIX}{family}") is None
    assert cache.get(f"{tokens.LIVE_FAMILY_KEY_PREFIX}{family}") == 1
