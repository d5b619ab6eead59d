"""Browser tests: the app served by uvicorn (`tests.support.server`, SQLite in a temporary
data directory, hashing embedder, no graph), driven by Debian's Chromium through Playwright's
sync API. Playwright's own browser download does not work on these machines, so the system's
Chromium is passed as the executable; without it every test here is skipped with the reason.

The tests are plain (sync) functions. Playwright's sync API runs its own event loop in a
greenlet of this thread, so while a browser is open everything in the test process (pytest
included) runs "on a running loop" for the blocking guard. The guard is for the app's loop, and
in a browser test the app runs in its own process (uvicorn), where the guard never ran, as in
every other served-app test: for the tests that open a browser it stays off, not widened;
every other test in this folder (httpx over ASGI) keeps it on."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from blockbuster import BlockBuster
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright

from tests.conftest import blockbuster_for_tests
from tests.support.server import Server

CLIENT_ERROR = re.compile(r"Failed to load resource: the server responded with a status of 4")
CHROMIUM = Path(os.environ.get("LEARNINGTOOL_TEST_CHROMIUM", "/usr/bin/chromium"))


@pytest.fixture(autouse=True)
def blockbuster(request: pytest.FixtureRequest) -> Iterator[BlockBuster]:
    """The root guard, except in a test that opens the browser (see the module's note)."""
    guard = blockbuster_for_tests()
    if "browser" in request.fixturenames:
        yield guard
        return
    guard.activate()
    try:
        yield guard
    finally:
        guard.deactivate()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per module: while it is open this thread has Playwright's loop running,
    so async (httpx) tests live in other modules, which run after it is closed."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"Chromium is not installed at {CHROMIUM} (apt-get install chromium; .ci/run "
            "installs it, LEARNINGTOOL_TEST_CHROMIUM names another binary)"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield launched
        launched.close()


class Served:
    """The running app, and the sign-in link it printed at start."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.base = server.base
        self.token = server.wait_ready()

    def sign_in_link(self) -> str:
        found = re.search(r"http://\S+/signin\?token=\S+", self.server.output())
        assert found, f"no sign-in link in the server's output: {self.server.output()}"
        return found.group(0)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    server = Server(tmp_path / "data", None)
    try:
        yield Served(server)
    finally:
        server.stop()


class Screens:
    """Each view a test reaches is saved as a screenshot (in the test's temporary folder), so
    that a failure, or a review of the pages, has pictures to look at."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def shot(self, page: Page, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def screens(tmp_path: Path) -> Screens:
    return Screens(tmp_path / "screenshots")


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    opened = browser.new_context()
    yield opened
    opened.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A page whose console errors (a script that failed, a Content Security Policy
    violation, a 5xx) fail the test: every page must run with its policy and no error. The
    browser also logs each 4xx page it loads; those are the refusals a test asks for."""
    opened = context.new_page()
    errors: list[str] = []

    def note(message: ConsoleMessage) -> None:
        if message.type == "error" and not CLIENT_ERROR.match(message.text):
            errors.append(message.text)

    opened.on("console", note)
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    assert errors == [], errors
