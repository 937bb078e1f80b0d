"""The staff admin in a real browser: Playwright driving Debian's Chromium, headless.

Run:  .venv/bin/pytest deepiri/tests/test_admin_browser.py -q -s
Screenshots of each admin screen are saved under the folder printed during the run
(set ADMIN_SCREENSHOTS_DIR to choose it). Needs Debian's Chromium: `apt-get install chromium`.

The app runs under a real HTTP server (pytest-django's live_server, a WSGI thread), so the
browser, the REST client and the test see the same committed database.
"""

# ruff: noqa: F811  (fixtures are imported from devtools.testing and named as parameters)
from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest

from devtools.testing.admin import make_role_user, transactional_db_mark  # noqa: F401  (fixture)
from devtools.testing.browser import browser, page, screenshots  # noqa: F401  (fixtures)
from devtools.testing.celery import eager_celery  # noqa: F401  (autouse: jobs run inline)
from kernel import roles

pytestmark = [pytest.mark.browser, transactional_db_mark()]


def api(base_url: str, method: str, path: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    """A real HTTP call to the live server's REST API."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{base_url}{path}", data=data, method=method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def sign_in(page, base_url: str, email: str, password: str):
    page.goto(f"{base_url}/admin/login/?next=/admin/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base_url}/admin/")


def messages_text(page) -> str:
    return page.locator("ul.messagelist").inner_text() if page.locator("ul.messagelist").count() else ""


def test_staff_creates_a_badge_awards_it_and_the_api_shows_it(live_server, page, screenshots, make_role_user, password):
    base = live_server.url
    staff = make_role_user(roles.STAFF, email="browser-staff@example.com", name="Browser Staff")
    player = make_role_user(email="player@example.com", name="Pat Player")

    # the REST client signs in first: before the award, no such badge and no points
    status, body = api(base, "POST", "/api/auth/login", {"email": player.email, "password": password})
    assert status == 200, body
    token = body["data"]["token"]
    status, body = api(base, "GET", "/api/gamification/points", token=token)
    assert status == 200
    points_before = body["data"]["points"]

    # sign in; a wrong password is refused
    page.goto(f"{base}/admin/")
    assert "/admin/login/" in page.url
    screenshots.take(page, "login")
    page.fill("input[name=username]", staff.email)
    page.fill("input[name=password]", "not the password")
    page.click("input[type=submit]")
    page.locator(".errornote").wait_for()
    sign_in(page, base, staff.email, password)
    assert page.locator("#deepiri-dashboard").is_visible()
    assert page.locator("#deepiri-dashboard [data-stat=users] .figure").inner_text().strip() == "2"
    screenshots.take(page, "dashboard")

    # create a badge; a bad criteria is refused with a field error first
    page.goto(f"{base}/admin/gamification/badge/add/")
    page.locator("#id_name").press_sequentially("Browser Hero")
    assert page.input_value("#id_slug") == "browser-hero"  # prepopulated by the admin's JS
    page.fill("#id_icon", "🦸")
    page.fill("#id_description", "Awarded by staff in a browser test.")
    page.select_option("#id_category", "special")
    page.select_option("#id_rarity", "epic")
    page.fill("#id_criteria", '{"type": "threshold", "metric": "points", "value": 0}')
    page.fill("#id_points", "150")
    with page.expect_navigation():
        page.click("input[name=_save]")
    assert "value: Must be a whole number of at least 1" in page.locator(".field-criteria").inner_text()
    screenshots.take(page, "badge-form-error")
    page.fill("#id_criteria", '{"type": "threshold", "metric": "points", "value": 1000000}')
    page.click("input[name=_save]")
    page.wait_for_url(f"{base}/admin/gamification/badge/")
    assert "was added successfully" in messages_text(page)
    screenshots.take(page, "badges")

    # award it to the player through the action's form
    row = page.locator("#result_list tr", has_text="Browser Hero")
    row.locator("input.action-select").check()
    page.select_option("select[name=action]", "award_to_users")
    with page.expect_navigation():
        page.click("button[name=index]")
    page.locator("#recipients-form").wait_for()
    page.fill("#id_users", "ghost@example.com")
    with page.expect_navigation():
        page.click("#recipients-form input[type=submit]")
    assert "No account with: ghost@example.com" in page.locator(".field-users").inner_text()
    page.fill("#id_users", player.email)
    screenshots.take(page, "award-badge")
    page.click("#recipients-form input[type=submit]")
    page.wait_for_url(f"{base}/admin/gamification/badge/")
    assert "Awarded 1 badge(s)" in messages_text(page)
    row = page.locator("#result_list tr", has_text="Browser Hero")
    assert row.locator("td.field-holders").inner_text().strip() == "1"
    screenshots.take(page, "badge-awarded")

    # the player's page in the admin shows the badge and the ledger row
    page.goto(f"{base}/admin/accounts/user/{player.pk}/change/")
    assert "Browser Hero" in page.locator(".inline-group").inner_text()
    assert "badge:browser-hero" in page.locator(".field-recent_ledger").inner_text()
    screenshots.take(page, "user-page")

    # over the REST API (JWT): the player has the badge and its points, and was notified
    status, body = api(base, "GET", "/api/gamification/badges", token=token)
    assert status == 200
    badge = next(b for b in body["data"] if b["slug"] == "browser-hero")
    assert badge["earned"] is True
    assert badge["points"] == 150
    status, body = api(base, "GET", "/api/gamification/points", token=token)
    assert body["data"]["points"] == points_before + 150
    status, body = api(base, "GET", "/api/notifications", token=token)
    assert status == 200
    assert any(n["type"] == "badge_earned" and "Browser Hero" in json.dumps(n) for n in body["data"])
    assert not page.js_errors


def test_every_admin_screen_renders_for_an_admin(live_server, page, screenshots, make_role_user, password):
    """An admin opens every list and add page linked from the index; each renders (no server error)."""
    base = live_server.url
    admin_user = make_role_user(roles.ADMIN, email="browser-admin@example.com", name="Browser Admin")
    make_role_user(email="someone@example.com", name="Someone")
    sign_in(page, base, admin_user.email, password)

    links = page.eval_on_selector_all("#content-main a", "els => els.map(e => e.getAttribute('href'))")
    changelists = sorted({link for link in links if re.fullmatch(r"/admin/[a-z_]+/[a-z_]+/", link or "")})
    assert "/admin/accounts/user/" in changelists
    assert "/admin/accounts/scopedapikey/" in changelists
    assert "/admin/django_celery_beat/periodictask/" in changelists
    for link in changelists:
        response = page.goto(f"{base}{link}")
        assert response.status == 200, link
        assert page.locator("#changelist, #content-main").count()
        screenshots.take(page, link.strip("/").replace("/", "-"))

    response = page.goto(f"{base}/admin/notifications/notification/announce/")
    assert response.status == 200
    screenshots.take(page, "announcement-form")
    response = page.goto(f"{base}/admin/accounts/scopedapikey/add/")
    assert response.status == 200
    screenshots.take(page, "api-key-add")
    assert not page.js_errors
