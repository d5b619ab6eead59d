"""A notebook's feed page over HTTP: the empty state says what to do next, pages follow the
keyset cursor (a plain "More" link and the htmx fragment that replaces it, each item once),
kinds filter with their counts (fetched after the page), search, an item opens where it
comes from (a fragment with the span highlighted, or the passage page without JavaScript),
errors are in words, and another user's notebook is a 404 on every route."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

from learningtool import cursor as cursors
from learningtool.db import session_scope
from learningtool.feed import service as feed_service
from learningtool.jobs.worker import Worker
from learningtool.models import ResearchRun, utcnow
from learningtool.models.base import new_id
from learningtool.web.feed import Filters, citation_links, clipped
from tests.conftest import Api
from tests.web.test_sign_in import signed_in
from tests.web.test_source_pages import notebook_of

TEXT = (
    "# Enzymes\n\nEnzymes are proteins that speed up chemical reactions. The active site is "
    "the region of an enzyme where substrates bind.\n\n## Inhibition\n\nA competitive "
    "inhibitor is a molecule that competes with the substrate for the active site.\n"
)
KINDS = ("chunk", "summary", "qa", "flashcard", "research")


async def filled(api: Api, notebook_id: str, count: int) -> list[str]:
    """`count` items straight into the feed, one second apart, kinds in turn; their ids
    newest first (the feed's order)."""
    now = utcnow()
    items = [
        feed_service.NewItem(
            kind=KINDS[n % len(KINDS)],
            ref_id=new_id(),
            title=f"Item {n} about {'mitochondria' if n % 10 == 0 else 'cells'}",
            body=f"Body of item {n}.",
        )
        for n in range(count)
    ]
    async with session_scope(api.context.sessions) as session:
        for n, item in enumerate(items):
            await feed_service.add_items(
                session, notebook_id, [item], at=now - timedelta(seconds=count - n)
            )
    page = None
    async with api.context.sessions() as session:
        page = await feed_service.page(session, notebook_id, cursor=None, limit=count)
    return [item.id for item in page.items]


def item_ids(text: str) -> list[str]:
    return re.findall(r'aria-labelledby="item-([0-9a-f]+)"', text)


def more_links(text: str) -> tuple[str, str] | None:
    """The "More" link's plain address and its htmx fragment's, or None at the end."""
    found = re.search(r'<li class="more">\s*<a href="([^"]+)" hx-get="([^"]+)"', text)
    return (html.unescape(found.group(1)), html.unescape(found.group(2))) if found else None


async def test_an_empty_feed_says_to_add_sources(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as http:
        await signed_in(api, http)
        notebook_id = await notebook_of(owner)
        empty = await http.get(f"/notebooks/{notebook_id}/feed")
        assert empty.status_code == 200
        assert "Nothing in the feed yet." in empty.text
        assert f'the <a href="/notebooks/{notebook_id}">Sources view</a>' in empty.text
        assert 'aria-current="page">Feed</a>' in empty.text
        assert f"{'/assets'}/feed.css" in empty.text and "<script>" not in empty.text
        assert " style=" not in empty.text
        await owner.post(f"/api/v1/notebooks/{notebook_id}/sources", json={"text": TEXT})
        waiting = await http.get(f"/notebooks/{notebook_id}/feed")
        assert "1 source is not processed yet" in waiting.text
        for asset in ("/assets/feed.css", "/assets/feed.js"):
            assert (await http.get(asset)).status_code == 200


async def test_pages_follow_the_cursor_by_link_and_by_fragment(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as http:
        await signed_in(api, http)
        notebook_id = await notebook_of(owner)
        expected = await filled(api, notebook_id, 47)
        first = await http.get(f"/notebooks/{notebook_id}/feed")
        assert first.status_code == 200
        assert item_ids(first.text) == expected[:20]
        links = more_links(first.text)
        assert links is not None
        plain, part = links
        assert 'hx-trigger="revealed, click"' in first.text
        assert plain.startswith(f"/notebooks/{notebook_id}/feed?cursor=")
        assert part.startswith(f"/notebooks/{notebook_id}/feed/more?cursor=")
        second = await http.get(part, headers={"HX-Request": "true"})
        assert second.status_code == 200
        assert "<html" not in second.text and "<h1" not in second.text
        assert item_ids(second.text) == expected[20:40]
        assert second.headers["content-security-policy"].startswith("default-src 'none'")
        again = await http.get(plain)  # without JavaScript: the page at that cursor
        assert item_ids(again.text) == expected[20:40] and "Back to the newest" in again.text
        links = more_links(second.text)
        assert links is not None
        third = await http.get(links[1], headers={"HX-Request": "true"})
        assert item_ids(third.text) == expected[40:]
        assert more_links(third.text) is None and "the end of the feed" in third.text


async def test_kinds_filter_with_their_counts_and_search(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as http:
        await signed_in(api, http)
        notebook_id = await notebook_of(owner)
        await filled(api, notebook_id, 30)
        page = await http.get(f"/notebooks/{notebook_id}/feed")
        counts_part = f"/notebooks/{notebook_id}/feed/counts"
        assert f'hx-get="{counts_part}" hx-trigger="load"' in page.text  # after the first paint
        assert '<span class="count">' not in page.text and ">Flashcards</a>" in page.text
        counts = await http.get(counts_part, headers={"HX-Request": "true"})
        assert counts.status_code == 200 and "hx-get" not in counts.text
        for label in ("All", "Passages", "Summaries", "Questions", "Flashcards", "Research"):
            assert re.search(rf'>{label} <span class="count">(30|6)</span></a>', counts.text), label
        kept = await http.get(f"{counts_part}?kind=qa&q=cells")
        assert 'aria-current="true">Questions' in kept.text
        assert f'href="/notebooks/{notebook_id}/feed?kind=flashcard&amp;q=cells"' in kept.text
        cards = await http.get(f"/notebooks/{notebook_id}/feed?kind=flashcard")
        assert len(item_ids(cards.text)) == 6
        assert cards.text.count('<span class="kind">Flashcard</span>') == 6
        assert 'aria-current="true">Flashcards' in cards.text
        assert "Show the answer" in cards.text
        found = await http.get(f"/notebooks/{notebook_id}/feed", params={"q": "mitochondria"})
        assert len(item_ids(found.text)) == 3 and "Items matching “mitochondria”" in found.text
        assert 'value="mitochondria"' in found.text and "Clear the search" in found.text
        # Each filter link keeps the search, and the search form keeps the kind.
        assert f'href="/notebooks/{notebook_id}/feed?kind=qa&amp;q=mitochondria"' in found.text
        both = await http.get(
            f"/notebooks/{notebook_id}/feed", params={"q": "mitochondria", "kind": "chunk"}
        )
        assert len(item_ids(both.text)) == 3 and 'name="kind" value="chunk"' in both.text
        none = await http.get(f"/notebooks/{notebook_id}/feed", params={"q": "photosynthesis"})
        assert none.status_code == 200 and "No items match “photosynthesis”" in none.text


async def test_bad_cursors_and_pages_past_the_end_are_in_words(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as http:
        await signed_in(api, http)
        notebook_id = await notebook_of(owner)
        await filled(api, notebook_id, 3)
        base = f"/notebooks/{notebook_id}/feed"
        bad = await http.get(base, params={"cursor": "not-a-cursor!"})
        assert bad.status_code == 422
        assert "The cursor is not valid." in bad.text and 'role="alert"' in bad.text
        assert "Traceback" not in bad.text and "Start again from the newest items" in bad.text
        part = await http.get(f"{base}/more", params={"cursor": "bm9ub25l"})
        assert part.status_code == 422 and "<html" not in part.text
        assert "The next items could not be loaded: the cursor is not valid." in part.text
        past = cursors.encode(datetime(2000, 1, 1, tzinfo=UTC), "0" * 32)
        end = await http.get(base, params={"cursor": past})
        assert end.status_code == 200 and "You have reached the end of the feed." in end.text
        end_part = await http.get(f"{base}/more", params={"cursor": past})
        assert end_part.status_code == 200 and "That is everything." in end_part.text
        kind = await http.get(base, params={"kind": "poem"})
        assert kind.status_code == 422 and "an invalid value: kind" in kind.text
        missing = await http.get(f"{base}/items/{'0' * 32}/origin")
        assert missing.status_code == 404 and "Feed item not found." in missing.text
        hx = await http.get(f"{base}/items/{'0' * 32}/origin", headers={"HX-Request": "true"})
        assert hx.status_code == 404 and "<html" not in hx.text
        assert "This could not be shown: feed item not found." in hx.text


async def test_an_item_opens_where_it_comes_from(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as http:
        await signed_in(api, http)
        notebook_id = await notebook_of(owner)
        await owner.post(f"/api/v1/notebooks/{notebook_id}/sources", json={"text": TEXT})
        await Worker(api.context).drain()
        api_feed = f"/api/v1/notebooks/{notebook_id}/feed"
        chunk = (await owner.get(api_feed, params={"q": "competitive inhibitor"})).json()
        item = next(i for i in chunk["items"] if i["kind"] == "chunk")
        page = await http.get(f"/notebooks/{notebook_id}/feed")
        origin = f"/notebooks/{notebook_id}/feed/items/{item['id']}/origin"
        assert f'hx-get="{origin}"' in page.text and "Where it comes from" in page.text
        inline = await http.get(origin, headers={"HX-Request": "true"})
        assert inline.status_code == 200 and "<html" not in inline.text
        assert "<mark>## Inhibition\n\nA competitive inhibitor" in inline.text
        assert "· Enzymes \N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK} Inhibition" in inline.text
        assert "The active site" in inline.text  # the context before the span
        plain = await http.get(origin)
        assert plain.status_code == 303
        passage = await http.get(plain.headers["location"])
        assert passage.status_code == 200
        assert '<mark id="span">## Inhibition\n\nA competitive inhibitor' in passage.text
        card = (await owner.get(api_feed, params={"kind": "flashcard"})).json()["items"][0]
        shown = await http.get(
            f"/notebooks/{notebook_id}/feed/items/{card['id']}/origin",
            headers={"HX-Request": "true"},
        )
        assert "<mark>" in shown.text and "Open the passage in its source" in shown.text


async def test_a_report_shows_its_citations_and_an_item_without_a_span_says_so(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as http:
        await signed_in(api, http)
        notebook_id = await notebook_of(owner)
        lost = (await filled(api, notebook_id, 1))[0]  # a passage whose chunk is gone
        citations = [
            {
                "n": 1,
                "kind": "web",
                "title": "Enzyme",
                "quote": "Enzymes are proteins.",
                "url": "https://example.org/enzyme",
            }
        ]
        async with session_scope(api.context.sessions) as session:
            run = ResearchRun(
                notebook_id=notebook_id,
                question="What are enzymes?",
                report="They are proteins [1].",
                citations=citations,
                status="done",
            )
            session.add(run)
            await session.flush()
            await feed_service.add_items(
                session,
                notebook_id,
                [
                    feed_service.NewItem(
                        kind="research",
                        ref_id=run.id,
                        title=run.question,
                        body="They are proteins [1].",
                    )
                ],
            )
        page = await http.get(f"/notebooks/{notebook_id}/feed?kind=research")
        report = item_ids(page.text)[0]
        assert "Research report" in page.text and "Its citations" in page.text
        base = f"/notebooks/{notebook_id}/feed/items"
        shown = await http.get(f"{base}/{report}/origin", headers={"HX-Request": "true"})
        assert (
            '[1] <a href="https://example.org/enzyme" rel="noopener noreferrer">Enzyme</a>'
            in shown.text
        )
        assert "“Enzymes are proteins.”" in shown.text
        alone = await http.get(f"{base}/{report}/origin")  # without JavaScript: a page
        assert alone.status_code == 200 and "<h1>What are enzymes?</h1>" in alone.text
        nothing = await http.get(f"{base}/{lost}/origin")
        assert nothing.status_code == 200
        assert "This item has no source passage to show" in nothing.text


def test_a_reports_citations_link_to_their_passage_or_page() -> None:
    citations = [
        {
            "n": 1,
            "kind": "passage",
            "title": "Enzymes",
            "quote": "Enzymes are proteins.",
            "source_id": "s1",
            "start_char": 10,
            "end_char": 90,
            "quote_start_char": 12,
            "quote_end_char": 33,
        },
        {"n": 2, "kind": "web", "title": "Wiki", "quote": "", "url": "https://example.org/e"},
        {"n": 3, "kind": "passage", "title": "Broken", "quote": ""},
        {"n": 4, "kind": "web", "title": "Trap", "quote": "", "url": "javascript:alert(1)"},
    ]
    links = citation_links("nb", citations)
    assert [link["href"] for link in links] == [
        "/notebooks/nb/sources/s1/passage?start=12&end=33#span",
        "https://example.org/e",
        None,
        None,
    ]
    assert links[1]["web"] and not links[0]["web"]


def test_long_text_is_clipped_at_a_blank_and_filters_make_links() -> None:
    assert clipped("short") == "short"
    assert clipped("alpha beta gamma delta", 12) == "alpha beta …"
    assert Filters().query() == ""
    assert Filters("qa", "cell wall").query("c1") == "?kind=qa&q=cell+wall&cursor=c1"
    assert Filters("qa", "x").query(kind=None) == "?q=x"


async def test_another_users_feed_is_not_found(api: Api) -> None:
    other = await api.new_user("other")
    async with api.client(api.token) as owner, api.client(other) as them, api.client() as stranger:
        notebook_id = await notebook_of(owner)
        ids = await filled(api, notebook_id, 3)
        own = await notebook_of(them, "Mine")
        assert (await stranger.post("/signin", data={"token": other})).status_code == 303
        theirs = f"/notebooks/{notebook_id}/feed"
        for path in (
            theirs,
            f"{theirs}/more",
            f"{theirs}/counts",
            f"{theirs}/items/{ids[0]}/origin",
        ):
            for headers in ({}, {"HX-Request": "true"}):
                answer = await stranger.get(path, headers=headers)
                assert answer.status_code == 404, path
                assert "Notebook not found." in answer.text
        # Their item under the stranger's own notebook is not found either.
        mislaid = await stranger.get(f"/notebooks/{own}/feed/items/{ids[0]}/origin")
        assert mislaid.status_code == 404 and "Feed item not found." in mislaid.text
