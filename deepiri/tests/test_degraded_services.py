"""A dependency outage answers 503 with the error envelope and Retry-After, never 500: the
test's own PostgreSQL database made unreachable, a private Redis killed, a private MongoDB wire
server stopped, against a real daphne. Anonymous health says up/down and nothing more."""

from __future__ import annotations

import os
import re

import pytest
import requests

from devtools.testing.faults import NxServer
from devtools.testing.liveapi import LiveAPI, database_unreachable

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.timeout(600)]

PASSWORD = "Fuzz-Horse-42!"
EMAIL_LIMIT = 6  # sign-in attempts per email and minute in this module's server


def _database_url() -> str:
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/deepiri")
    name = (os.environ.get("TEST_DATABASE_NAME") or "test_deepiri") + "_outage"
    return base.rsplit("/", 1)[0] + "/" + name


def assert_503(r: requests.Response, what: str) -> None:
    assert r.status_code == 503, (what, r.status_code, r.text[:500])
    assert r.headers.get("Retry-After", "").isdigit(), (what, dict(r.headers))
    if r.headers.get("Content-Type", "").startswith("application/json"):
        body = r.json()
        assert body["success"] is False and "unavailable" in body["message"], (what, body)


def admin_session(api: LiveAPI, email: str) -> requests.Session:
    session = requests.Session()
    page = session.get(api.url + "/admin/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    r = session.post(
        api.url + "/admin/login/?next=/admin/",
        data={"username": email, "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Referer": api.url + "/admin/login/"}, timeout=10,
    )
    assert r.status_code == 200 and "/admin/logout/" in r.text, r.text[:500]
    return session


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("outage")
    mongo = NxServer().start()
    api = LiveAPI.postgres_redis(workdir, _database_url(), MONGODB_URI=mongo.uri, MONGODB_TIMEOUT_MS="500",
                                 THROTTLE_LOGIN_EMAIL=f"{EMAIL_LIMIT}/min")
    api._cleanups.append(mongo.close)
    api.mongo = mongo
    with api:
        api.manage(
            "shell", "-c",
            "from accounts.models import User; "
            f"User.objects.create_user(email='ops@example.com', password='{PASSWORD}', name='Ops', is_staff=True, is_superuser=True)",
        )
        yield api


def login(api: LiveAPI, email: str) -> str:
    r = api.call("POST", "/api/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return r.json()["data"]["token"]


def test_postgres_unreachable_is_a_503_everywhere_then_recovers(live):
    me = live.register("pg@example.com", "Pg User")
    staff_browser = admin_session(live, "ops@example.com")
    with database_unreachable(live.database_url):
        assert_503(live.call("POST", "/api/auth/login", json={"email": "pg@example.com", "password": PASSWORD}), "login")
        assert_503(live.call("GET", "/api/tasks", me), "tasks via JWT get_user")
        assert_503(live.call("POST", "/api/tasks", me, json={"title": "x"}), "create")
        assert_503(live.call("GET", "/api/users/profile", me), "profile")
        r = staff_browser.get(live.url + "/admin/", timeout=15)
        assert_503(r, "admin page")
        health = live.call("GET", "/api/health")
        assert health.status_code == 503
        assert health.json()["data"]["services"]["database"] == {"status": "down"}
    assert live.call("GET", "/api/tasks", me).status_code == 200
    assert login(live, "pg@example.com")
    assert staff_browser.get(live.url + "/admin/", timeout=15).status_code == 200


def test_mongo_down_is_a_503_on_analytics(live):
    me = live.register("mongo@example.com", "Mongo User")
    assert live.call("GET", "/api/analytics", me).status_code == 200
    live.mongo.stop()
    try:
        for path in ("/api/analytics", "/api/analytics/stats", "/api/analytics/insights", "/api/analytics/performance"):
            assert_503(live.call("GET", path, me), path)
        assert live.call("GET", "/api/tasks", me).status_code == 200  # the core loop does not need it
    finally:
        live.mongo.start()  # same port, empty: the next test starts from a working store
    assert live.call("GET", "/api/analytics", me).status_code == 200


def test_redis_down_signs_in_with_limits_in_memory_503s_the_leaderboard_and_health_hides_details(live):
    me = live.register("redis@example.com", "Redis User")
    live.register("victim@example.com", "Victim")
    staff_token = login(live, "ops@example.com")
    live.redis.stop()

    # Sign-in and sign-up work: a user whose access token expires during the outage is not locked out.
    assert login(live, "redis@example.com")
    r = live.call("POST", "/api/auth/register", json={"name": "New", "email": "new@example.com", "password": PASSWORD})
    assert r.status_code == 201, r.text
    # ...and password guessing is still stopped: the limit counts in the server's memory.
    for attempt in range(EMAIL_LIMIT):
        r = live.call("POST", "/api/auth/login", json={"email": "victim@example.com", "password": f"guess-{attempt}"})
        assert r.status_code == 401, (attempt, r.status_code, r.text)
    r = live.call("POST", "/api/auth/login", json={"email": "victim@example.com", "password": PASSWORD})
    assert r.status_code == 429 and r.headers.get("Retry-After", "").isdigit(), (r.status_code, r.text)
    assert login(live, "redis@example.com")  # the limit is per account: others still sign in
    # the admin sign-in goes through too: its lockout (django-axes) counts in memory as well
    browser = requests.Session()
    page = browser.get(live.url + "/admin/login/", timeout=10)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    r = browser.post(live.url + "/admin/login/?next=/admin/", timeout=10, allow_redirects=False,
                     data={"username": "ops@example.com", "password": PASSWORD, "csrfmiddlewaretoken": csrf},
                     headers={"Referer": live.url + "/admin/login/"})
    assert r.status_code == 302 and r.headers["Location"] == "/admin/", (r.status_code, r.text[:300])

    assert_503(live.call("GET", "/api/gamification/leaderboard", me), "leaderboard")

    anonymous = live.call("GET", "/api/health")
    assert anonymous.status_code == 503
    services = anonymous.json()["data"]["services"]
    assert services["cache"] == {"status": "down"} and services["broker"] == {"status": "down"}
    assert str(live.redis.port) not in anonymous.text and "Error" not in anonymous.text
    staff = live.call("GET", "/api/health", headers={"Authorization": f"Bearer {staff_token}"})
    assert staff.status_code == 503
    assert "error" in staff.json()["data"]["services"]["cache"]

    # whatever else touches Redis answers 503 or works without it; never a 500
    for method, path, body in [
        ("GET", "/api/tasks", None), ("POST", "/api/tasks", {"title": "during the outage"}),
        ("GET", "/api/gamification/profile", None), ("GET", "/api/gamification/rank", None),
        ("GET", "/api/notifications", None), ("GET", "/api/notifications/unread/count", None),
        ("GET", "/api/challenges", None), ("GET", "/api/users/profile", None), ("GET", "/api/integrations", None),
    ]:
        r = live.call(method, path, me, json=body)
        assert r.status_code < 500 or r.status_code == 503, (method, path, r.status_code, r.text[:300])
        if r.status_code == 503:
            assert_503(r, path)
