"""In the browser: open a notebook, upload a real PDF with a refused file beside it (the
reason in words), watch the PDF become ready without reloading, paste a text, drop a file on
the drop zone, open the PDF source and read its text with a passage boundary and its page,
delete the source; the page fits a phone's width. Without JavaScript a file still uploads,
through the plain form, and everything is reachable by the keyboard alone."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.ingestion.builders import pdf_bytes
from tests.web.conftest import Screens, Served


def test_upload_a_pdf_watch_it_become_ready_and_read_it(
    served: Served, page: Page, screens: Screens, tmp_path: Path
) -> None:
    pdf = tmp_path / "plants.pdf"
    pdf.write_bytes(
        pdf_bytes([["Photosynthesis makes sugar in the leaves."], ["Roots take up water."]])
    )
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01\x02 not a document \xff\xfe")

    page.goto(served.sign_in_link())
    page.get_by_label("New notebook").fill("Plants")
    page.get_by_role("button", name="Create notebook").click()
    page.get_by_role("link", name="Plants", exact=True).click()
    expect(page.get_by_role("heading", name="Plants", exact=True)).to_be_visible()
    expect(page.get_by_text("This notebook has no sources yet")).to_be_visible()
    screens.shot(page, "empty-notebook")

    page.evaluate("window.notReloaded = true")  # gone if the page reloads
    page.get_by_label("Upload files").set_input_files([pdf, junk])
    refused = page.locator("li.upload", has_text="junk.bin")
    expect(refused.locator(".note")).to_contain_text("This type of file cannot be read.")
    expect(page.locator("li.upload", has_text="plants.pdf")).to_contain_text("added")
    source = page.locator("li.source")
    expect(source).to_have_count(1)
    screens.shot(page, "uploading")
    expect(source.locator(".status")).to_have_text("Ready", timeout=60_000)
    expect(source).to_contain_text("application/pdf")
    assert page.evaluate("window.notReloaded") is True
    screens.shot(page, "ready")

    page.get_by_label("Title (optional)").first.fill("Cells")
    page.get_by_label("Text").fill("The cell membrane holds the cell together.")
    page.get_by_role("button", name="Add text").click()
    expect(page.locator("li.source")).to_have_count(2)
    expect(page.locator("li.source", has_text="Cells").locator(".status")).to_have_text(
        "Ready", timeout=60_000
    )

    dropped = page.evaluate_handle(
        """() => {
            const files = new DataTransfer();
            const text = "# Roots\\n\\nRoots take up water and mineral salts.\\n";
            files.items.add(new File([text], "roots.md", {type: "text/markdown"}));
            return files;
        }"""
    )
    page.locator("#drop-zone").dispatch_event("drop", {"dataTransfer": dropped})
    expect(page.locator("li.upload", has_text="roots.md")).to_contain_text("added")
    expect(page.locator("li.source")).to_have_count(3)

    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screens.shot(page, "phone")
    page.set_viewport_size({"width": 1280, "height": 800})

    page.locator("li.source a.name").first.click()
    boundary = page.locator(".chunk .boundary").first
    expect(boundary).to_contain_text("Passage 1 · page 1")
    expect(page.locator(".chunk").first).to_contain_text("Photosynthesis makes sugar")
    expect(page.get_by_text("Roots take up water.")).to_be_visible()
    screens.shot(page, "source-text")

    page.get_by_role("link", name="Delete this source").click()
    screens.shot(page, "confirm-delete-source")
    page.get_by_role("button", name="Delete source").click()
    expect(page.get_by_role("heading", name="Plants", exact=True)).to_be_visible()
    expect(page.locator("li.source")).to_have_count(2)
    expect(page.locator("li.source a.name").first).to_have_text("Cells")
    expect(page.locator("li.source", has_text="plants.pdf")).to_have_count(0)
    screens.shot(page, "deleted")


def test_without_javascript_a_file_uploads_through_the_plain_form(
    served: Served, browser: Browser, screens: Screens, tmp_path: Path
) -> None:
    notes = tmp_path / "roots.md"
    notes.write_text("# Roots\n\nRoots take up water and mineral salts.\n", encoding="utf-8")
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(served.sign_in_link())
        page.get_by_label("New notebook").fill("Plants")
        page.get_by_role("button", name="Create notebook").click()
        page.get_by_role("link", name="Plants", exact=True).click()
        page.get_by_label("Upload files").set_input_files(notes)
        page.get_by_role("button", name="Upload", exact=True).click()
        expect(page.locator("li.source", has_text="roots.md")).to_have_count(1)
        screens.shot(page, "uploaded-without-javascript")
    finally:
        context.close()


def test_the_notebook_page_works_by_keyboard_alone(
    served: Served, page: Page, screens: Screens
) -> None:
    """Tab to each control in order, type, press Enter: no mouse."""
    page.goto(served.sign_in_link())
    page.get_by_label("New notebook").focus()
    page.keyboard.type("Keys")
    page.keyboard.press("Enter")
    page.get_by_role("link", name="Keys", exact=True).focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Keys", exact=True)).to_be_visible()
    page.get_by_label("Text").focus()
    page.keyboard.type("Mitochondria make ATP for the cell.")
    page.keyboard.press("Tab")  # to the button
    assert page.evaluate("document.activeElement.textContent") == "Add text"
    screens.shot(page, "keyboard-focus")
    page.keyboard.press("Enter")
    source = page.locator("li.source")
    expect(source.locator(".status")).to_have_text("Ready", timeout=60_000)
    source.locator("a.name").focus()
    page.keyboard.press("Enter")
    expect(page.locator(".chunk").first).to_contain_text("Mitochondria make ATP")
