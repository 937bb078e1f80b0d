"""Staff screens fit a 1280-pixel-wide window: the sync-run list and a connection's sync history
(long provider errors included) wrap instead of scrolling sideways. Checked in Chromium
(Playwright), with a screenshot of each screen."""

# ruff: noqa: F811  (fixtures are imported from devtools.testing and named as parameters)
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from devtools.testing.admin import make_role_user, transactional_db_mark  # noqa: F401  (fixture)
from devtools.testing.browser import browser, page, screenshots  # noqa: F401  (fixtures)
from kernel import roles

pytestmark = [pytest.mark.browser, transactional_db_mark()]

WIDTH = 1280


def _overflow(page) -> int:
    """How many pixels the page, or any box on it that scrolls sideways (the admin's result
    list does) or clips its content (a form row), is wider than it shows (0 when it fits)."""
    return page.evaluate(
        """() => {
            let worst = document.documentElement.scrollWidth - window.innerWidth;
            for (const el of document.querySelectorAll('*')) {
                const style = getComputedStyle(el);
                const scrolls = style.overflowX === 'auto' || style.overflowX === 'scroll';
                // content clipped inside the page's main column (a long error cut off at the edge)
                const clipped = style.overflowX === 'hidden' && style.textOverflow !== 'ellipsis'
                    && el.closest('#content-main');
                if ((scrolls || clipped) && el.clientWidth > 0) {
                    worst = Math.max(worst, el.scrollWidth - el.clientWidth);
                }
            }
            return worst;
        }"""
    )


def test_sync_runs_and_history_fit_a_1280_pixel_window(live_server, page, screenshots, make_role_user, password):
    from integrations.models import Connection, SyncRun

    staff = make_role_user(roles.STAFF, email="layout-staff@example.com", name="Layout Staff")
    owner = make_role_user(email="a-rather-long-address.for-layout-checks@example.com", name="Owner With A Long Name")
    conn = Connection.objects.create(user=owner, service="github", status="error", last_error="x" * 300)
    now = timezone.now()
    long_error = "transient: GET https://api.github.com/repos/some-organisation/some-repository/issues" + "?page=" + "9" * 120
    for i, (status, error_class) in enumerate(
        [("failed", "refused"), ("failed", "dns"), ("failed", "timeout"), ("failed", "http_503"), ("succeeded", "")] * 4
    ):
        SyncRun.objects.create(
            connection=conn, user=owner, status=status, error_class=error_class,
            error=long_error if status == "failed" else "", started_at=now - timedelta(minutes=i), duration_ms=1234,
            created_count=12, updated_count=3, completed_count=1,
        )

    page.set_viewport_size({"width": WIDTH, "height": 900})
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("input[name=username]", staff.email)
    page.fill("input[name=password]", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")

    page.goto(f"{live_server.url}/admin/integrations/syncrun/")
    assert page.locator("#result_list").is_visible()
    assert "DNS lookup failed" in page.locator("#result_list").inner_text()
    screenshots.take(page, "sync-runs-1280")
    assert _overflow(page) <= 0, f"the sync-run list is {_overflow(page)} px wider than the window"

    page.goto(f"{live_server.url}/admin/integrations/connection/{conn.pk}/change/")
    history = page.locator("table.sync-history")
    assert history.is_visible()
    assert "connection refused" in history.inner_text()
    screenshots.take(page, "connection-history-1280")
    assert _overflow(page) <= 0, f"the connection page is {_overflow(page)} px wider than the window"

    page.goto(f"{live_server.url}/admin/accounts/user/{owner.pk}/change/")
    screenshots.take(page, "user-page-1280")
    assert _overflow(page) <= 0, f"the user page is {_overflow(page)} px wider than the window"
