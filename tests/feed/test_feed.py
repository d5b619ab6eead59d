"""The feed over HTTP, and the paging property: while items are added, paging returns every
item that existed at the start exactly once, in order."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from httpx import AsyncClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select

from learningtool.feed import service as feed
from learningtool.jobs.worker import Worker
from learningtool.models import FeedItem, Notebook, User, utcnow
from learningtool.models.base import new_id
from tests.conftest import Api

TEXT = (
    "# Enzymes\n\nEnzymes are proteins that speed up chemical reactions. The active site is "
    "the region of an enzyme where substrates bind.\n\n## Inhibition\n\nA competitive "
    "inhibitor is a molecule that competes with the substrate for the active site.\n"
)


@pytest.fixture
async def notebook(api: Api, client: AsyncClient) -> str:
    notebook = (await client.post("/api/v1/notebooks", json={"name": "Feed"})).json()["id"]
    await client.post(f"/api/v1/notebooks/{notebook}/sources", json={"text": TEXT})
    await Worker(api.context).drain()
    return notebook


async def test_feed_shows_every_kind_newest_first(client: AsyncClient, notebook: str) -> None:
    base = f"/api/v1/notebooks/{notebook}/feed"
    page = (await client.get(base, params={"limit": 200})).json()
    kinds = {item["kind"] for item in page["items"]}
    assert {"chunk", "summary", "flashcard"} <= kinds
    moments = [item["created_at"] for item in page["items"]]
    assert moments == sorted(moments, reverse=True)
    counts = (await client.get(f"{base}/counts")).json()
    assert sum(counts.values()) == len(page["items"]) and counts["research"] == 0

    cards = (await client.get(base, params={"kind": "flashcard"})).json()["items"]
    assert cards and {item["kind"] for item in cards} == {"flashcard"}
    two = (await client.get(base, params=[("kind", "qa"), ("kind", "summary")])).json()["items"]
    assert {item["kind"] for item in two} <= {"qa", "summary"}


async def test_feed_full_text_and_detail_with_span(client: AsyncClient, notebook: str) -> None:
    base = f"/api/v1/notebooks/{notebook}/feed"
    found = (await client.get(base, params={"q": "competitive inhibitor"})).json()["items"]
    assert found and all("inhibitor" in (i["title"] + i["body"]).lower() for i in found)
    assert (await client.get(base, params={"q": "photosynthesis"})).json()["items"] == []
    chunk = next(i for i in found if i["kind"] == "chunk")
    detail = (await client.get(f"{base}/{chunk['id']}")).json()
    span = detail["source_span"]
    assert span["text"] == chunk["body"] and span["heading_path"][-1] == "Inhibition"
    card = (await client.get(base, params={"kind": "flashcard"})).json()["items"][0]
    detail = (await client.get(f"{base}/{card['id']}")).json()
    assert detail["detail"]["payload"]["back"] in detail["source_span"]["text"]
    assert (await client.get(f"{base}/{'0' * 32}")).status_code == 404


async def test_bad_cursors_and_limits_are_422(client: AsyncClient, notebook: str) -> None:
    base = f"/api/v1/notebooks/{notebook}/feed"
    assert (await client.get(base, params={"cursor": "not-a-cursor!"})).status_code == 422
    assert (await client.get(base, params={"limit": 0})).status_code == 422
    assert (await client.get(base, params={"kind": "poem"})).status_code == 422


async def _notebook_row(api: Api) -> str:
    async with api.context.sessions() as session:
        owner = (await session.scalars(select(User.id).where(User.name == "local"))).one()
        row = Notebook(owner_id=owner, name=f"prop-{new_id()}")
        session.add(row)
        await session.commit()
        return row.id


async def _add(
    api: Api, notebook_id: str, count: int, rng: random.Random, *, past: bool
) -> set[str]:
    """`count` items; timestamps share seconds (ties) and may lie in the past (an item whose
    job started before the reader began but committed after)."""
    now = utcnow()
    rows = [
        {
            "id": new_id(),
            "notebook_id": notebook_id,
            "kind": rng.choice(feed.KINDS),
            "ref_id": new_id(),
            "title": "t",
            "body": "b",
            "created_at": now - timedelta(seconds=rng.randint(0, 5) if past else 0),
        }
        for _ in range(count)
    ]
    if rows:
        async with api.context.sessions() as session:
            await session.execute(insert(FeedItem), rows)
            await session.commit()
    return {row["id"] for row in rows}


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    initial=st.integers(min_value=0, max_value=60),
    page_size=st.integers(min_value=1, max_value=12),
    added=st.lists(st.integers(min_value=0, max_value=8), min_size=1, max_size=10),
    seed=st.integers(min_value=0, max_value=10_000),
)
async def test_paging_during_inserts_returns_each_initial_item_once_in_order(
    api: Api, initial: int, page_size: int, added: list[int], seed: int
) -> None:
    rng = random.Random(seed)
    notebook_id = await _notebook_row(api)
    await _add(api, notebook_id, initial, rng, past=True)
    async with api.context.sessions() as session:
        expected = list(
            await session.scalars(
                select(FeedItem.id)
                .where(FeedItem.notebook_id == notebook_id)
                .order_by(FeedItem.created_at.desc(), FeedItem.id.desc())
            )
        )
    seen: list[str] = []
    cursor = None
    for step in range(10_000):
        async with api.context.sessions() as session:
            page = await feed.page(session, notebook_id, cursor=cursor, limit=page_size)
        seen.extend(item.id for item in page.items)
        await _add(api, notebook_id, added[step % len(added)], rng, past=step % 2 == 0)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(seen) == len(set(seen))  # nothing twice
    initial_seen = [item_id for item_id in seen if item_id in set(expected)]
    assert initial_seen == expected  # every initial item, once, in order


@pytest.mark.parametrize("in_time_order", [True, False])
async def test_full_text_pages_agree_with_a_plain_filter_whatever_the_match_count(
    api: Api, monkeypatch: pytest.MonkeyPatch, in_time_order: bool
) -> None:
    """Every way of running `q` (SQLite: a few matches fetched by rowid; more probed along
    the timeline, within the rowids of a window of it or all of them) gives the pages a
    plain filter gives, with kinds, cursors, another notebook holding matches too, and
    rowids that follow time or not."""
    rng = random.Random(5)
    words = ["alpha", "beta", "gamma", "delta"]
    notebooks = [await _notebook_row(api), await _notebook_row(api)]
    now = utcnow()
    rows = [
        {
            "id": new_id(),
            "notebook_id": rng.choice(notebooks),
            "kind": rng.choice(feed.KINDS),
            "ref_id": new_id(),
            "title": " ".join(rng.sample(words, 2)),
            "body": " ".join(rng.sample(words, 1)),
            "created_at": now - timedelta(seconds=rng.randint(0, 40)),  # many ties
        }
        for _ in range(300)
    ]
    if in_time_order:
        rows.sort(key=lambda row: (row["created_at"], row["id"]))
    async with api.context.sessions() as session:
        await session.execute(insert(FeedItem), rows)
        await session.commit()
    newest_first = sorted(rows, key=lambda row: (row["created_at"], row["id"]), reverse=True)
    for few, window in ((10_000, 2000), (0, 2000), (0, 12), (0, 1)):
        monkeypatch.setattr(feed, "FEW_MATCHES", few)
        monkeypatch.setattr(feed, "WINDOW", window)
        for q, kinds in (("alpha", ()), ("beta gamma", ("qa", "summary")), ("delta", ("chunk",))):
            expected = [
                row["id"]
                for row in newest_first
                if row["notebook_id"] == notebooks[0]
                and (not kinds or row["kind"] in kinds)
                and all(w in f"{row['title']} {row['body']}" for w in q.split())
            ]
            seen: list[str] = []
            cursor = None
            while True:
                async with api.context.sessions() as session:
                    page = await feed.page(
                        session, notebooks[0], cursor=cursor, limit=7, kinds=kinds, q=q
                    )
                seen.extend(item.id for item in page.items)
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
            assert expected and seen == expected, (few, window, q, kinds)
