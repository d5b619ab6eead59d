"""In the browser: paste a text the offline engine makes flashcards of, review three cards with
the keyboard only (Space flips, a digit rates) and read when each is due again, edit a card,
suspend one, rate one in a browser without JavaScript, download the CSV export, see every
notebook's due count; then rotate the API token on the Settings page (shown once). The review
page fits a phone's width."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Browser, Page, expect

from tests.study.test_study import TEXT
from tests.web.conftest import Screens, Served

DUE = re.compile(r"(\d+) cards? due now")


def due_now(page: Page) -> int:
    found = DUE.search(page.locator("#due-count").inner_text())
    assert found, page.content()
    return int(found.group(1))


def wait_for_cards(page: Page, count: int, seconds: float = 60) -> None:
    """Reload the review page until the offline engine has made `count` cards."""
    deadline = time.monotonic() + seconds
    while due_now(page) < count:
        assert time.monotonic() < deadline, "no flashcards were made"
        page.wait_for_timeout(300)
        page.reload()


def review_with_keys(page: Page, digit: str, rating: str) -> None:
    """Flip with Space, rate with `digit`: the page comes back naming the card just rated
    (two cards may share a front: the offline engine asks a passage twice) and when it is
    due again."""
    action = page.locator("form.ratings").get_attribute("action") or ""
    card_id = action.split("/cards/")[1].split("/")[0]
    expect(page.locator("#back")).to_be_hidden()
    page.keyboard.press("Space")
    expect(page.locator("#back")).to_be_visible()
    page.keyboard.press(digit)
    expect(page).to_have_url(re.compile(rf"\?last={card_id}&did={rating.lower()}$"))
    notice = page.locator("#notice")
    expect(notice).to_contain_text(re.compile(rf"rated {rating}, due again (in|on|tomorrow)"))


def rate_without_script(browser: Browser, served: Served, review: str) -> None:
    """In a browser with JavaScript off, signed in with the token on the sign-in page: the
    answer opens with a click on its summary and a rating button posts its form."""
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{served.base}/signin")
        page.get_by_label("Access token").fill(served.token)
        page.get_by_role("button", name="Sign in").click()
        page.goto(review)
        expect(page.locator("#keys")).to_be_hidden()
        page.get_by_text("Show the answer").click()
        page.get_by_role("button", name=re.compile("^Good")).click()
        expect(page.locator("#notice")).to_contain_text("rated Good, due again in 10 minutes")
    finally:
        context.close()


def test_review_three_cards_by_keyboard_edit_suspend_export_and_rotate_the_token(
    served: Served, page: Page, screens: Screens, browser: Browser
) -> None:
    page.goto(served.sign_in_link())
    page.get_by_label("New notebook").fill("Biology")
    page.get_by_role("button", name="Create notebook").click()
    page.get_by_role("link", name="Biology", exact=True).click()
    page.get_by_role("navigation", name="Notebook").get_by_role("link", name="Review").click()
    expect(page.get_by_text("This notebook has no cards to review yet.")).to_be_visible()
    screens.shot(page, "review-empty")

    page.get_by_role("link", name="Sources", exact=True).first.click()
    page.get_by_label("Title (optional)").first.fill("Photosynthesis")
    page.get_by_label("Text").fill(TEXT)
    page.get_by_role("button", name="Add text").click()
    expect(page.locator("li.source .status")).to_have_text("Ready", timeout=60_000)
    page.get_by_role("navigation", name="Notebook").get_by_role("link", name="Review").click()
    wait_for_cards(page, 5)  # three by keyboard, one edited and suspended, one without script
    due = due_now(page)
    expect(page.locator("#front")).not_to_be_empty()
    expect(page.locator("#keys")).to_be_visible()  # said by the script that adds them
    screens.shot(page, "review-card")

    review_with_keys(page, "3", "Good")
    expect(page.locator("#notice")).to_contain_text("due again in 10 minutes")
    screens.shot(page, "review-rated")
    page.keyboard.press("Space")
    expect(page.locator("#back")).to_be_visible()
    expect(page.get_by_role("link", name="See the passage this card comes from")).to_be_visible()
    screens.shot(page, "review-flipped")
    page.keyboard.press("Space")  # flips back
    review_with_keys(page, "2", "Hard")  # not Again: due in a minute, it would come back
    review_with_keys(page, "4", "Easy")
    expect(page.locator("#due-count")).to_contain_text(f"{due - 3} card")

    passage = page.locator("#answer .from a")
    page.keyboard.press("Space")
    passage.click()
    expect(page.locator("mark#span")).not_to_be_empty()
    screens.shot(page, "card-passage")
    page.go_back()

    page.get_by_role("link", name="Edit this card").click()
    page.get_by_label("Front (the question)").fill("What does RuBisCO catalyse?")
    page.get_by_label("Back (the answer)").fill("The first step of carbon fixation")
    screens.shot(page, "card-edit")
    page.get_by_role("button", name="Save card").click()
    expect(page.locator("#notice")).to_contain_text("Saved “What does RuBisCO catalyse?”")
    expect(page.locator("#front")).to_have_text("What does RuBisCO catalyse?")

    page.get_by_role("button", name="Suspend this card").click()
    expect(page.locator("#notice")).to_contain_text("Suspended “What does RuBisCO catalyse?”")
    expect(page.get_by_role("button", name="Resume it")).to_be_visible()
    expect(page.locator("#due-count")).to_contain_text(f"{due - 4} card")
    screens.shot(page, "card-suspended")

    rate_without_script(browser, served, page.url.split("?")[0])
    page.reload()
    expect(page.locator("#due-count")).to_contain_text(f"{due - 5} card")

    with page.expect_download() as download:
        page.get_by_role("link", name="CSV").click()
    assert download.value.suggested_filename == "biology.csv"
    assert download.value.failure() is None

    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screens.shot(page, "review-phone")
    page.set_viewport_size({"width": 1280, "height": 800})

    page.locator(".crumbs").get_by_role("link", name="Review").click()
    expect(page.locator("li.notebook", has_text="Biology")).to_contain_text(f"{due - 5} card")
    screens.shot(page, "review-all")

    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_text("Offline engine")).to_be_visible()
    expect(page.get_by_text("Hashing (no model)")).to_be_visible()
    screens.shot(page, "settings")
    page.get_by_role("button", name="Rotate first-start").click()
    expect(page.get_by_text("it will not be shown again")).to_be_visible()
    token = page.get_by_label("Token “first-start”").input_value()
    assert token.startswith("lt_") and token != served.token
    screens.shot(page, "token-rotated")
    page.get_by_role("link", name="Back to the settings").click()
    expect(page.get_by_role("heading", name="Settings")).to_be_visible()
    assert token not in page.content()
