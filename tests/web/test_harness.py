"""The browser harness itself: Chromium opens a page of the served app and runs its scripts
under the page's Content Security Policy without a console error."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.web.conftest import Screens, Served


def test_the_browser_shows_the_api_documentation(
    served: Served, page: Page, screens: Screens
) -> None:
    page.goto(f"{served.base}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("LearningTool")
    screens.shot(page, "docs")
