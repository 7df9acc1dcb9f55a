"""Browser test fixtures: the system Chromium (Playwright's sync API) against kolokol in its own thread.

- `chromium`: one headless Chromium for the browser tests (`/usr/bin/chromium`, or `$KOLOKOL_CHROMIUM`);
  without it they skip with a loud reason. `playwright install` is not used: nothing is downloaded.
- `kolokol_settings`: settings overrides (a dict of sections, merged into the test defaults) for `kolokol`;
  override the fixture in a test module to configure lines, the CRM link, an Asterisk connection...
- `kolokol`: a started `tests.browser.server.Kolokol` on a fresh SQLite database: `add_user`, `add_contact`,
  `miss` (a missed call through the real pipeline: a callback task), `live` (a call change through the
  real publisher, caller card built from the database), `publish` (a raw feed message), `run`/`call`
  (anything else, on the server's loop).
- `open_page(username, password=None, path="/console", *, locale="ru-RU", viewport=None)`: logs the user in
  through the login form in a fresh browser context (1366x768, Moscow time) and returns the `Page`. When
  the test ends, every page it opened is checked for script errors and CSP violations.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Playwright, sync_playwright

from tests.browser.server import PASSWORD, Kolokol, ServerThread

CHROMIUM = Path(os.environ.get("KOLOKOL_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1366, "height": 768}


# Named apart from pytest-playwright's `playwright`/`browser` fixtures: that plugin, when installed, would
# otherwise parametrize these tests and try to launch its own downloaded browsers.
# Package scope, not session: while Playwright's sync driver lives, asyncio believes a loop is running in
# this thread, so the async tests of other folders must run after it is gone.
@pytest.fixture(scope="package")
def sync_driver() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.skip(
            f"!!! BROWSER TESTS SKIPPED: no Chromium at {CHROMIUM} (apt-get install chromium) !!!",
        )
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def chromium(sync_driver: Playwright) -> Iterator[Browser]:
    browser = sync_driver.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def kolokol_settings() -> dict[str, Any]:
    """Settings for the `kolokol` fixture; override in a module for lines, the CRM link, an Asterisk..."""
    return {}


@pytest.fixture
def kolokol(tmp_path: Path, kolokol_settings: dict[str, Any]) -> Iterator[Kolokol]:
    server = ServerThread(kolokol_settings, f"sqlite+aiosqlite:///{tmp_path / 'kolokol.sqlite3'}")
    running = server.start()
    try:
        yield running
    finally:
        server.stop()


@pytest.fixture
def open_page(chromium: Browser, kolokol: Kolokol) -> Iterator[Callable[..., Page]]:
    problems: list[str] = []
    contexts: list[BrowserContext] = []

    def open_as(
        username: str,
        password: str | None = None,
        path: str = "/console",
        *,
        locale: str = "ru-RU",
        viewport: dict[str, int] | None = None,
    ) -> Page:
        context = chromium.new_context(
            viewport=viewport or VIEWPORT,  # type: ignore[arg-type]
            locale=locale,
            timezone_id="Europe/Moscow",
            base_url=kolokol.base_url,
        )
        contexts.append(context)
        page = context.new_page()

        def on_console(message: ConsoleMessage) -> None:
            if message.type != "error":
                return
            url = message.location.get("url", "")
            # API answers like 409 or 503 are part of what the tests check; a missing page asset is not.
            if message.text.startswith("Failed to load resource") and "/static/" not in url:
                return
            problems.append(f"{username}: console error: {message.text} ({url})")

        page.on("console", on_console)
        page.on("pageerror", lambda error: problems.append(f"{username}: page error: {error}"))
        page.goto(f"/login?next={path}")
        page.fill("#username", username)
        page.fill("#password", password or kolokol.users.get(username, PASSWORD))
        page.click("button[type=submit]")
        page.wait_for_url(f"**{path}")
        return page

    yield open_as
    for context in contexts:
        context.close()
    assert not problems, "the pages logged errors (CSP violations show up here too):\n" + "\n".join(problems)
