"""The staff admin in a real browser: Playwright driving Debian's Chromium, headless (issue 8).

Run:  .venv/bin/pytest deepiri/tests/test_admin_browser.py -q -s
Screenshots of each admin screen are saved under the folder printed at the end of the run
(ADMIN_SCREENSHOTS_DIR to choose it). Needs `apt-get install chromium`.
"""

# ruff: noqa: F811  (fixtures are imported from deepiri.testing and named as parameters)
from __future__ import annotations

import pytest

from deepiri import roles
from deepiri.testing.admin import make_role_user  # noqa: F401  (fixture)
from deepiri.testing.browser import browser, page, screenshots  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, base_url: str, email: str, password: str):
    page.goto(f"{base_url}/admin/login/?next=/admin/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base_url}/admin/")


def test_staff_signs_in_and_sees_the_dashboard(live_server, page, screenshots, make_role_user, password):
    staff = make_role_user(roles.STAFF, email="browser-staff@example.com", name="Browser Staff")
    make_role_user(email="someone@example.com", name="Someone")

    page.goto(f"{live_server.url}/admin/")
    assert "/admin/login/" in page.url
    screenshots.take(page, "login")

    page.fill("input[name=username]", staff.email)
    page.fill("input[name=password]", "wrong password")
    page.click("input[type=submit]")
    assert page.locator(".errornote").is_visible()

    sign_in(page, live_server.url, staff.email, password)
    dashboard = page.locator("#deepiri-dashboard")
    assert dashboard.is_visible()
    assert dashboard.locator("[data-stat=users] .figure").inner_text().strip() == "2"
    screenshots.take(page, "dashboard")

    page.goto(f"{live_server.url}/admin/accounts/user/?q=someone")
    assert page.locator("#result_list").inner_text().count("someone@example.com") == 1
    screenshots.take(page, "users-search")
    assert not page.js_errors
