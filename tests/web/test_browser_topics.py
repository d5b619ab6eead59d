"""In the browser, on the offline engine with web search off (nothing reaches the network):
paste texts into a notebook, see topics suggested with their reasons (the list fills in by
itself), reject one, accept one with the keyboard, watch the run's progress live without
reloading, read the finished report and open one of its citations (the passage highlighted);
research an own question from the Topics view; the pages fit a phone's width."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.research.test_research import BIOLOGY
from tests.research.test_topics import GEOLOGY
from tests.support.server import Server
from tests.web.conftest import Screens, Served

OFFLINE = {
    "LEARNINGTOOL_LLM_PROVIDER": "none",
    "LEARNINGTOOL_WEB_SEARCH_PROVIDER": "none",
    "LEARNINGTOOL_WORKER_CONCURRENCY": "1",  # one job at a time: a run's steps show one by one
}


@pytest.fixture
def offline(tmp_path: Path) -> Iterator[Served]:
    """The served app with every generative task on the offline engine, no web search."""
    server = Server(tmp_path / "data", None, env=OFFLINE)
    try:
        yield Served(server)
    finally:
        server.stop()


def fits_a_phone(page: Page, screens: Screens, name: str) -> None:
    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screens.shot(page, f"{name}-phone")
    page.set_viewport_size({"width": 1280, "height": 800})


def open_view(page: Page, name: str) -> None:
    page.locator("nav.views").get_by_role("link", name=name, exact=True).click()


def paste(page: Page, title: str, text: str) -> None:
    page.get_by_label("Title (optional)").first.fill(title)
    page.get_by_label("Text").fill(text)
    page.get_by_role("button", name="Add text").click()
    expect(page.locator("li.source", has_text=title).locator(".status")).to_have_text(
        "Ready", timeout=60_000
    )


def test_topics_accept_watch_the_run_and_open_a_citation(
    offline: Served, page: Page, screens: Screens
) -> None:
    page.goto(offline.sign_in_link())
    page.get_by_label("New notebook").fill("Biology")
    page.get_by_role("button", name="Create notebook").click()
    page.get_by_role("link", name="Biology", exact=True).click()
    open_view(page, "Topics")
    expect(page.get_by_text("No topics to suggest.")).to_be_visible()
    expect(page.get_by_text("No research yet.")).to_be_visible()
    screens.shot(page, "topics-empty")

    open_view(page, "Sources")
    paste(page, "Photosynthesis", BIOLOGY)
    paste(page, "Plate tectonics", GEOLOGY)
    open_view(page, "Topics")
    topics = page.locator("li.topic")
    expect(topics.nth(2)).to_be_visible(timeout=60_000)  # the list fills in by itself
    settled = page.locator("#topics-live:not([hx-trigger])")  # polled until nothing is under way
    expect(settled).to_be_attached(timeout=60_000)
    expect(topics.first.locator(".why")).to_contain_text("Why:")
    expect(topics.first.locator(".prompted a").first).to_be_visible()
    screens.shot(page, "topics-suggested")
    fits_a_phone(page, screens, "topics")

    count = topics.count()
    rejected = topics.first.locator(".question").inner_text()
    topics.first.get_by_role("button", name=re.compile("^Reject")).click()
    expect(page.get_by_text("Rejected topics (1)")).to_be_visible()
    expect(page.locator("li.topic")).to_have_count(count - 1)
    expect(page.locator("li.topic", has_text=rejected)).to_have_count(0)
    screens.shot(page, "topic-rejected")

    accepted = page.locator("li.topic").first.locator(".question").inner_text()
    page.locator("li.topic").first.get_by_role("button", name=re.compile("^Research this")).focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(accepted)
    page.evaluate("window.notReloaded = true")  # gone if the page reloads
    screens.shot(page, "run-progress")
    expect(page.locator("#run-status")).to_have_text("Done", timeout=90_000)
    assert page.evaluate("window.notReloaded") is True
    assert int(page.locator("#run").get_attribute("data-updates") or 0) >= 1
    expect(page.locator(".steps li").first).to_contain_text("Planned")
    report = page.locator(".report-body")
    expect(report).to_contain_text("Written without a language model")
    screens.shot(page, "run-report")
    fits_a_phone(page, screens, "report")

    citation = report.locator("a.cite").first
    expect(citation).to_be_visible()
    href = citation.get_attribute("href") or ""
    assert re.search(r"/sources/\w+/passage\?start=\d+&end=\d+$", href), href
    citation.click()
    highlighted = page.locator("mark#span")
    expect(highlighted).to_be_visible()
    assert highlighted.inner_text().strip()
    screens.shot(page, "citation-passage")

    page.go_back()
    open_view(page, "Topics")
    expect(page.locator("li.run", has_text=accepted).locator(".status")).to_have_text("Done")
    page.get_by_label("Question", exact=True).fill("Where do the light reactions take place?")
    page.get_by_label("Depth").select_option("low")
    page.get_by_role("button", name="Start research").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Where do the light reactions take place?"
    )
    expect(page.locator("#run-status")).to_have_text("Done", timeout=90_000)
    expect(page.locator(".report-body")).to_contain_text("thylakoid")
    screens.shot(page, "own-question-report")
