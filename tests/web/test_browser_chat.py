"""In the browser: ask a question in a notebook's chat and watch the answer stream in (words
added one by one to the answer being written, then replaced by the finished message with its
citations), open a citation and see the passage highlighted; the graph view without a graph
says so; in a browser without JavaScript, ask again and get the page with the answer. On a
server with the graph enabled (LightRAG offline in its worker process, some 20 s to start):
open the graph, search an entity, expand a node with the mouse and another with the
keyboard, open a passage that mentions it. Each view fits a phone's width."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.server import Server
from tests.web.conftest import Screens, Served

TEXT = (
    "# Photosynthesis\n\nThe Calvin cycle fixes carbon dioxide into sugars in the stroma of "
    "the chloroplast. RuBisCO is the enzyme of carbon fixation in the Calvin cycle.\n\n"
    "## Light reactions\n\nThe light reactions in the thylakoid membrane make ATP and NADPH "
    "for the Calvin cycle.\n"
)

# Records each piece of text the page's script adds to the answer being written.
WATCH_STREAM = """() => {
    window.streamed = [];
    new MutationObserver((records) => {
        for (const record of records) {
            const target = record.target;
            if (!target.closest || !target.closest(".message.streaming")) continue;
            for (const node of record.addedNodes) window.streamed.push(node.textContent);
        }
    }).observe(document.getElementById("messages"), {childList: true, subtree: true});
}"""


@pytest.fixture
def graph_served(tmp_path: Path) -> Iterator[Served]:
    """The app with its knowledge graph (the served default has none)."""
    server = Server(tmp_path / "data", None, env={"LEARNINGTOOL_GRAPH_ENABLED": "true"})
    try:
        yield Served(server)
    finally:
        server.stop()


def notebook_with_text(page: Page, served: Served, name: str) -> None:
    """Sign in through the printed link, create `name`, paste `TEXT`, wait until ready."""
    page.goto(served.sign_in_link())
    page.get_by_label("New notebook").fill(name)
    page.get_by_role("button", name="Create notebook").click()
    page.get_by_role("link", name=name, exact=True).click()
    page.get_by_label("Title (optional)").first.fill("Leaves")
    page.get_by_label("Text").fill(TEXT)
    page.get_by_role("button", name="Add text").click()
    expect(page.locator("li.source .status")).to_have_text("Ready", timeout=90_000)


def fits_a_phone(page: Page, screens: Screens, name: str) -> None:
    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screens.shot(page, name)
    page.set_viewport_size({"width": 1280, "height": 800})


def test_ask_watch_the_answer_stream_and_open_a_citation(
    served: Served, page: Page, screens: Screens, browser: Browser
) -> None:
    notebook_with_text(page, served, "Plants")
    page.get_by_role("link", name="Chat", exact=True).click()
    expect(page.get_by_text("No chats yet.")).to_be_visible()
    screens.shot(page, "chat-empty")
    page.get_by_role("button", name="New chat").first.click()
    expect(page.get_by_text("Nothing asked yet.")).to_be_visible()
    expect(page.get_by_label("Research first", exact=False)).not_to_be_checked()

    page.evaluate(WATCH_STREAM)
    page.evaluate("window.notReloaded = true")
    page.get_by_label("Your question").fill("Which enzyme fixes carbon in the Calvin cycle?")
    page.get_by_label("Your question").press("Control+Enter")
    answer = page.locator("li.message.answer.status-complete")
    expect(answer).to_contain_text("RuBisCO", timeout=60_000)
    assert page.evaluate("window.notReloaded") is True
    pieces = page.evaluate("window.streamed")
    assert len(pieces) > 3 and "RuBisCO" in "".join(pieces), pieces  # word by word
    expect(page.locator("li.message.question")).to_contain_text("Which enzyme")
    expect(page.locator("#ask-status")).to_have_text("Answered.")
    expect(page.locator("#chat-title")).to_have_text(
        "Which enzyme fixes carbon in the Calvin cycle?"
    )
    expect(answer.locator(".claim").first).to_be_visible()
    expect(answer.get_by_role("list", name="Passages cited")).to_contain_text("Leaves")
    expect(page.get_by_label("Your question")).to_be_focused()
    screens.shot(page, "chat-answered")
    fits_a_phone(page, screens, "chat-phone")

    page.reload()  # the answer is kept, drawn by the server the same way
    expect(page.locator("li.message.answer")).to_contain_text("RuBisCO")
    cite = page.locator("li.message.answer a.cite").first
    cite.focus()
    page.keyboard.press("Enter")
    highlighted = page.locator("mark#span")
    expect(highlighted).to_contain_text("RuBisCO")
    expect(page.get_by_role("heading", name="Leaves")).to_be_visible()
    screens.shot(page, "citation-passage")

    page.go_back()
    chat_url = page.url
    page.get_by_role("link", name="Graph", exact=True).click()
    expect(page.get_by_text("The knowledge graph is turned off on this server")).to_be_visible()
    screens.shot(page, "graph-off")
    ask_without_javascript(browser, served, chat_url, screens)


def ask_without_javascript(
    browser: Browser, served: Served, chat_url: str, screens: Screens
) -> None:
    """The same chat in a browser without JavaScript: the form posts, the page comes back
    with the answer complete."""
    context = browser.new_context(java_script_enabled=False)
    try:
        plain = context.new_page()
        plain.goto(f"{served.base}/signin")
        plain.get_by_label("Access token").fill(served.token)
        plain.get_by_role("button", name="Sign in").click()
        plain.goto(chat_url)
        plain.get_by_label("Your question").fill("What do the light reactions make?")
        plain.get_by_role("button", name="Ask").click()
        last = plain.locator("li.message.answer").last
        expect(last).to_contain_text("ATP", timeout=60_000)
        expect(last.locator("a.cite").first).to_be_visible()
        expect(plain.locator("li.message.question")).to_have_count(2)
        screens.shot(plain, "chat-without-javascript")
    finally:
        context.close()


def test_search_the_graph_expand_nodes_and_open_a_mention(
    graph_served: Served, page: Page, screens: Screens
) -> None:
    notebook_with_text(page, graph_served, "Cells")
    page.get_by_role("link", name="Graph", exact=True).click()
    nodes = page.locator("#graph g.node")
    expect(nodes.first).to_be_visible()
    assert nodes.count() > 3
    expect(page.get_by_role("heading", name="Entities", exact=True)).to_be_visible()
    screens.shot(page, "graph")

    page.get_by_label("Find an entity").fill("Calvin cycle")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("heading", name="Around “calvin cycle”")).to_be_visible()
    expect(page.locator("#graph g.node.expanded")).to_have_count(1)
    expect(page.locator(".mentions mark").first).to_have_text("Calvin cycle")
    screens.shot(page, "graph-entity")

    before = nodes.count()
    other = page.locator("#graph g.node:not(.expanded)").first
    name = other.get_attribute("data-name")
    other.click()
    panel = page.locator("#graph-selected")
    expect(panel).to_contain_text(f"{name}")
    expect(panel).to_contain_text("shown")
    expect(page.locator(f'#graph g.node.expanded[data-name="{name}"]')).to_have_count(1)
    assert nodes.count() >= before
    screens.shot(page, "graph-expanded")

    by_keyboard = page.locator("#graph g.node:not(.expanded)").first
    name = by_keyboard.get_attribute("data-name")
    by_keyboard.focus()
    page.keyboard.press("Enter")
    expect(page.locator(f'#graph g.node.expanded[data-name="{name}"]')).to_have_count(1)
    expect(page.locator(f'#graph g.node[data-name="{name}"]')).to_be_focused()
    page.set_viewport_size({"width": 1000, "height": 800})  # drawn again for the new width
    page.wait_for_timeout(400)
    expect(page.locator(f'#graph g.node[data-name="{name}"]')).to_be_focused()
    page.set_viewport_size({"width": 1280, "height": 800})
    fits_a_phone(page, screens, "graph-phone")

    panel.get_by_role("link", name="Passages that mention it").click()
    expect(page.get_by_role("heading", name=f"Passages that mention “{name}”")).to_be_visible()
    page.locator(".mentions a").first.click()
    expect(page.locator("mark#span")).to_be_visible()
    screens.shot(page, "graph-mention-passage")
