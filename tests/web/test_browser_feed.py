"""In the browser: sign in through the printed link, create a notebook, paste several texts
(through the API, with the local token) until the feed holds more than a page, scroll the
feed past its first page and see the next page's items come in, load more by keyboard, filter
by a kind, search, open an item's origin inline and its passage page highlighted; the page
fits a phone's width."""

from __future__ import annotations

import re
import time

import httpx
from playwright.sync_api import Page, expect

from tests.web.conftest import Screens, Served

TOPICS = ["Enzymes", "Membranes", "Photosynthesis", "Respiration"]
SECTIONS = ["Structure", "Function", "Regulation", "History", "Methods", "Examples"]
PAGE_SIZE = 20  # learningtool.web.feed.PAGE_SIZE


def note(topic: str) -> str:
    """A text with a heading per section and sentences of its own in each (several passages
    per text, and study material from them)."""
    parts = [f"# {topic}\n"]
    for number, section in enumerate(SECTIONS):
        sentences = " ".join(
            f"The {section.lower()} of {topic.lower()} is described in point {n} of part "
            f"{number}, which a learner should remember as fact {topic[:3].lower()}{number}{n}."
            for n in range(14)
        )
        parts.append(f"## {section}\n\n{sentences}\n")
    return "\n".join(parts)


def fill_notebook(served: Served, name: str) -> str:
    """Paste the texts into the notebook named `name` and wait until the server's worker has
    read them and made their study material; the notebook's id."""
    auth = {"Authorization": f"Bearer {served.token}"}
    with httpx.Client(base_url=served.base, headers=auth, timeout=30) as api:
        notebook = next(n for n in api.get("/api/v1/notebooks").json() if n["name"] == name)
        base = f"/api/v1/notebooks/{notebook['id']}"
        for topic in TOPICS:
            added = api.post(f"{base}/sources", json={"text": note(topic), "title": topic})
            assert added.status_code == 202, added.text
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            counts = api.get(f"{base}/feed/counts").json()
            sources = api.get(f"{base}/sources").json()
            if all(s["status"] == "ready" for s in sources) and counts["flashcard"]:
                time.sleep(1.0)  # the last source's study material
                if api.get(f"{base}/feed/counts").json() == counts:
                    break
            time.sleep(0.3)
        assert sum(counts.values()) > 2 * PAGE_SIZE, counts
        return str(notebook["id"])


def test_scroll_filter_search_and_open_a_passage(
    served: Served, page: Page, screens: Screens
) -> None:
    page.goto(served.sign_in_link())
    page.get_by_label("New notebook").fill("Biology")
    page.get_by_role("button", name="Create notebook").click()
    page.get_by_role("link", name="Biology", exact=True).click()
    page.get_by_role("link", name="Feed").click()
    expect(page.get_by_text("Nothing in the feed yet.")).to_be_visible()
    expect(page.get_by_role("link", name="Sources view")).to_be_visible()
    screens.shot(page, "feed-empty")

    notebook_id = fill_notebook(served, "Biology")
    page.reload()
    items = page.locator("#feed li.item")
    expect(items).to_have_count(PAGE_SIZE)
    expect(page.locator(".kinds a", has_text="Flashcards")).to_contain_text(re.compile(r"\d"))
    expect(page.get_by_role("link", name="More items")).to_be_visible()
    screens.shot(page, "feed-first-page")

    first_page = items.all_inner_texts()
    page.mouse.wheel(0, 20_000)  # to the end of the page: the "More" link comes into view
    expect(items).not_to_have_count(PAGE_SIZE)
    assert items.count() > PAGE_SIZE
    assert items.all_inner_texts()[:PAGE_SIZE] == first_page
    expect(page.get_by_role("status")).to_have_text(re.compile(r"^\d+ items shown\.$"))
    screens.shot(page, "feed-scrolled")

    # By keyboard: the "More" link loads the next items and the focus moves to the first.
    page.goto(f"{served.base}/notebooks/{notebook_id}/feed?kind=chunk")
    expect(page.get_by_role("link", name="Passages")).to_have_attribute("aria-current", "true")
    passages = page.locator("#feed li.item")
    expect(passages).to_have_count(PAGE_SIZE)
    expect(passages.locator(".kind")).to_have_text(["Passage"] * PAGE_SIZE)
    expect(page.locator(".kinds .count")).to_have_count(6)
    screens.shot(page, "feed-passages")
    more = page.get_by_role("link", name="More items")
    more.focus()
    page.keyboard.press("Enter")
    expect(passages).not_to_have_count(PAGE_SIZE)
    # The focus moves once htmx has settled the new items, a moment after they show.
    page.wait_for_function(
        "document.activeElement && document.activeElement.closest('li.item') !== null",
        timeout=5_000,
    )

    page.get_by_role("link", name="Flashcards").click()
    cards = page.locator("#feed li.item")
    expect(cards.first).to_be_visible()
    assert set(cards.locator(".kind").all_inner_texts()) == {"Flashcard"}
    cards.first.get_by_text("Show the answer").click()
    screens.shot(page, "feed-flashcards")

    page.get_by_role("link", name="All").click()
    page.get_by_label("Search the feed").fill("regulation of photosynthesis")
    page.get_by_role("button", name="Search").click()
    found = page.locator("#feed li.item")
    expect(found.first).to_be_visible()
    for text in found.all_text_contents():  # a flashcard's hidden answer too
        assert "regulation" in text.lower() and "photosynthesis" in text.lower(), text
    expect(page.get_by_text("Items matching “regulation of photosynthesis”")).to_be_visible()
    screens.shot(page, "feed-search")

    passage = found.filter(has=page.locator(".kind", has_text="Passage")).first
    passage.get_by_text("Where it comes from").click()
    highlighted = passage.locator(".origin-body mark")
    expect(highlighted).to_be_visible()
    expect(highlighted).to_contain_text("regulation of photosynthesis")
    screens.shot(page, "feed-origin")

    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screens.shot(page, "feed-phone")
    page.set_viewport_size({"width": 1280, "height": 800})

    passage.locator(".origin-body").get_by_role("link", name="Open the passage").click()
    expect(page.locator("mark#span")).to_contain_text("regulation of photosynthesis")
    expect(page.get_by_role("heading", name="Photosynthesis")).to_be_visible()
    screens.shot(page, "passage")
