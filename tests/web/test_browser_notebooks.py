"""In the browser: sign in through the link the server printed, create a notebook, see a
duplicate refused in words, rename it, delete it (confirmed, the purge shown until done),
sign out; the used link does not work twice."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.web.conftest import Screens, Served


def test_sign_in_create_rename_delete_sign_out(
    served: Served, page: Page, screens: Screens
) -> None:
    link = served.sign_in_link()
    page.goto(link)
    expect(page.get_by_role("heading", name="Notebooks")).to_be_visible()
    expect(page.get_by_text("You have no notebook yet")).to_be_visible()
    screens.shot(page, "empty")

    page.get_by_label("New notebook").fill("Biology")
    page.get_by_role("button", name="Create notebook").click()
    row = page.locator("li.notebook", has_text="Biology")
    expect(row).to_contain_text("0 sources · 0 cards due")
    screens.shot(page, "created")

    page.get_by_label("New notebook").fill("Biology")
    page.get_by_role("button", name="Create notebook").click()
    expect(page.get_by_role("alert")).to_have_text("A notebook named 'Biology' exists already.")
    screens.shot(page, "duplicate")

    page.get_by_role("link", name="Rename Biology").click()
    page.get_by_label("Name").fill("Cells")
    screens.shot(page, "rename")
    page.get_by_role("button", name="Rename").click()
    expect(page.locator("li.notebook .name")).to_have_text(["Cells"])

    page.get_by_role("link", name="Delete Cells").click()
    expect(page.get_by_role("heading", name="Delete “Cells”?")).to_be_visible()
    screens.shot(page, "confirm-delete")
    page.get_by_role("button", name="Delete notebook").click()
    expect(page.locator("li.notebook")).to_have_count(0)
    screens.shot(page, "deleting")
    # The purge job runs in the server's worker; the list polls until it is gone.
    expect(page.locator("#deletions")).to_be_hidden(timeout=20_000)
    expect(page.get_by_text("You have no notebook yet")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto(f"{served.base}/")
    expect(page).to_have_url(f"{served.base}/signin")
    page.goto(link)
    expect(page.get_by_role("alert")).to_contain_text("used already or has expired")
    screens.shot(page, "link-used")


def test_sign_in_with_the_access_token(served: Served, page: Page, screens: Screens) -> None:
    page.goto(f"{served.base}/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Access token").fill("lt_wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    screens.shot(page, "wrong-token")
    page.get_by_label("Access token").fill(served.token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Notebooks")).to_be_visible()
    screens.shot(page, "signed-in")
