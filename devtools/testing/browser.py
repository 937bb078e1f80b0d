"""A real browser for the admin tests: Playwright driving Debian's Chromium, headless.

    from devtools.testing.browser import browser, page, screenshots  # noqa: F401  (fixtures)

    def test_something(live_server, page, screenshots):
        page.goto(live_server.url + "/admin/")
        screenshots.take(page, "login")

`browser` is one Chromium per test (`/usr/bin/chromium`, or `CHROMIUM_PATH`; about a second to
start); `page` is a fresh context on it. Per test, not per session: Playwright's sync API keeps an
event loop running in the main thread while it is open, and with a loop running Django's
per-context connection handling gives the test database's teardown another connection object
(the flush then forgets `serialized_rollback`), and later tests calling `asyncio.run` fail. The
browser is gone before the test's database is flushed. Chromium is installed from Debian
(`apt-get install chromium`), never downloaded by Playwright. When it is missing the browser tests
skip outside CI and fail in CI (`CI` set), so a CI without Chromium can never pass silently.

Screenshots go to `ADMIN_SCREENSHOTS_DIR` (default: a fresh folder under the system temp dir); the
folder is printed when the first one is saved and again at the end of the session.

Playwright's sync API keeps an event loop in the test thread while the browser is open, which makes
Django's async-safety check refuse ORM calls from the test thread; the `browser` fixture sets
`DJANGO_ALLOW_ASYNC_UNSAFE` while the browser lives (the tests are single-threaded: the guard's
concern, an ORM call racing inside a running coroutine, does not arise) and restores it after.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from django.db import connections

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str | None:
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        return configured if Path(configured).exists() else None
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if Path(candidate).exists():
            return candidate
    return shutil.which("chromium")


def _say(config, line: str) -> None:
    """Print past pytest's output capture, so the folder shows in a plain `pytest -q` run."""
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():
        print(line, flush=True)


class Screenshots:
    """Saves full-page PNGs under one folder, numbered in the order they were taken."""

    def __init__(self, folder: Path, config=None):
        self.folder = folder
        self.config = config
        self.count = 0
        self.saved: list[Path] = []

    def take(self, page, name: str) -> Path:
        if self.count == 0 and self.config is not None:
            _say(self.config, f"\nadmin screenshots: {self.folder}")
        self.count += 1
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        path = self.folder / f"{self.count:02d}-{slug}.png"
        page.screenshot(path=str(path), full_page=True)
        self.saved.append(path)
        return path


@pytest.fixture(scope="session")
def screenshots(request):
    configured = os.environ.get("ADMIN_SCREENSHOTS_DIR")
    if configured:
        folder = Path(configured)
        folder.mkdir(parents=True, exist_ok=True)
    else:
        folder = Path(tempfile.mkdtemp(prefix="deepiri-admin-screenshots-"))
    shots = Screenshots(folder, request.config)
    yield shots
    if shots.saved:
        _say(request.config, f"\nadmin screenshots ({len(shots.saved)}) saved in {folder}")


@pytest.fixture
def browser():
    executable = chromium_path()
    if executable is None:
        message = "Chromium not installed (apt-get install chromium); set CHROMIUM_PATH to point at it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - optional: a test without Chromium skips first

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            try:
                yield chromium
            finally:
                chromium.close()
                # The ORM calls made while Playwright's loop ran used connections of their own
                # context; close them now, or they outlive the test (and block dropping the
                # test database at the end of the session).
                connections.close_all()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-US")
    context.set_default_timeout(15_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.js_errors = errors
    try:
        yield tab
    finally:
        # Let every request the page made finish before the test's database is flushed: a view
        # still running on the live server after the flush would write rows (content types) that
        # a following `serialized_rollback` test then collides with.
        try:
            tab.wait_for_load_state("networkidle", timeout=5_000)
        except Exception:  # noqa: S110 - best effort; the context is closed either way
            pass
        context.close()
