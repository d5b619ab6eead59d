"""Study material end to end: generated from a ready source (offline engine by default, LLM
engine over real HTTP), cards reviewed with FSRS, edited, exported, replaced on re-processing."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import fsrs
import pytest
from httpx import AsyncClient
from sqlalchemy import select

from learningtool.jobs.worker import Worker
from learningtool.llm import create_llm_client
from learningtool.models import CardReview, CardState, StudyItem, utcnow
from tests.conftest import Api
from tests.support.fake_openai import FakeOpenAI, completion, error

TEXT = """# Photosynthesis

Photosynthesis is the process by which green plants convert light energy into chemical
energy. It takes place mainly in the chloroplasts of leaf cells. Chlorophyll is the green
pigment that absorbs red and blue light.

## The Calvin cycle

The Calvin cycle is a series of reactions that fixes carbon dioxide into sugars. The enzyme
RuBisCO catalyses the first step of carbon fixation. The cycle uses ATP and NADPH made by the
light reactions.

## Respiration

Cellular respiration is the process that releases energy stored in glucose. Mitochondria are
the organelles where most of this energy is captured as ATP.
"""


@pytest.fixture
async def studied(api: Api, client: AsyncClient) -> tuple[str, str]:
    notebook = (await client.post("/api/v1/notebooks", json={"name": "Bio"})).json()["id"]
    source = (
        await client.post(
            f"/api/v1/notebooks/{notebook}/sources",
            files={"file": ("bio.md", TEXT.encode(), "text/markdown")},
        )
    ).json()["source"]["id"]
    await Worker(api.context).drain()
    return notebook, source


async def items(client: AsyncClient, notebook: str, kind: str | None = None) -> list[dict]:
    params = {"kind": kind} if kind else {}
    return (await client.get(f"/api/v1/notebooks/{notebook}/study-items", params=params)).json()


async def source_text(client: AsyncClient, notebook: str, source: str) -> str:
    return (await client.get(f"/api/v1/notebooks/{notebook}/sources/{source}/text")).text


async def test_offline_material_is_found_in_its_source_chunk(
    client: AsyncClient, studied: tuple[str, str]
) -> None:
    notebook, source = studied
    text = await source_text(client, notebook, source)
    chunks = {
        c["id"]: c
        for c in (await client.get(f"/api/v1/notebooks/{notebook}/sources/{source}/chunks")).json()[
            "items"
        ]
    }
    found = await items(client, notebook)
    kinds = {item["kind"] for item in found}
    assert {"summary", "flashcard", "qa"} <= kinds
    for item in found:
        chunk = chunks[item["chunk_id"]]
        assert item["engine"] == "offline"
        evidence = text[item["start_char"] : item["end_char"]]
        assert chunk["start_char"] <= item["start_char"] < item["end_char"] <= chunk["end_char"]
        if item["kind"] == "flashcard":
            assert item["payload"]["back"] in evidence
            assert item["payload"]["back"] not in item["payload"]["front"]
        if item["kind"] == "summary":
            for sentence in item["payload"]["sentences"]:
                assert text[sentence["start"] : sentence["end"]] == sentence["text"]
        if item["kind"] == "qa":
            assert item["payload"]["answer"] in evidence
    questions = [item["payload"]["question"] for item in found if item["kind"] == "qa"]
    assert any("Calvin cycle" in q or "Photosynthesis" in q for q in questions)


async def test_a_source_that_repeats_itself_gives_each_card_once(
    api: Api, client: AsyncClient
) -> None:
    """A man page says in its synopsis what it says again under its options: one card."""
    notebook = (await client.post("/api/v1/notebooks", json={"name": "Twice"})).json()["id"]
    repeated = TEXT.replace("# Photosynthesis", "# Photosynthesis again", 1)
    await client.post(
        f"/api/v1/notebooks/{notebook}/sources",
        files={"file": ("twice.md", (TEXT + "\n" + repeated).encode(), "text/markdown")},
    )
    await Worker(api.context).drain()
    fronts = [
        " ".join(card["payload"]["front"].casefold().split())
        for card in await items(client, notebook, "flashcard")
    ]
    assert fronts and len(fronts) == len(set(fronts)), fronts


async def test_reviews_follow_fsrs_exactly(
    api: Api, client: AsyncClient, studied: tuple[str, str]
) -> None:
    notebook, _ = studied
    cards = f"/api/v1/notebooks/{notebook}/cards"
    due = (await client.get(cards, params={"due": True})).json()["cards"]
    assert due, "new cards are due at once"
    card = due[0]
    assert card["retrievability"] is None and card["reps"] == 0
    base = f"/api/v1/notebooks/{notebook}/cards/{card['id']}"
    ratings = ["good", "good", "again", "easy"]
    results = []
    for rating in ratings:
        response = await client.post(f"{base}/review", json={"rating": rating})
        assert response.status_code == 200, response.text
        results.append(response.json()["card"])
    async with api.context.sessions() as session:
        moments = list(
            await session.scalars(
                select(CardReview.reviewed_at)
                .where(CardReview.item_id == card["id"])
                .order_by(CardReview.reviewed_at)
            )
        )
    scheduler = fsrs.Scheduler(enable_fuzzing=False)
    expected = fsrs.Card(card_id=0, due=moments[0])
    for rating, moment, got in zip(ratings, moments, results, strict=True):
        expected, _ = scheduler.review_card(expected, fsrs.Rating[rating.capitalize()], moment)
        assert datetime.fromisoformat(got["due_at"].replace("Z", "+00:00")) == expected.due
        assert got["stability"] == pytest.approx(expected.stability)
        assert got["difficulty"] == pytest.approx(expected.difficulty)
    assert results[-1]["reps"] == 4
    assert (await client.post(f"{base}/review", json={"rating": "meh"})).status_code == 422


async def test_cards_come_a_page_at_a_time_each_once(
    api: Api, client: AsyncClient, studied: tuple[str, str]
) -> None:
    """A learner with 99 cards saw 50 and no way to the rest."""
    notebook, source = studied
    async with api.context.sessions() as session:
        moment = utcnow()
        for n in range(99):
            item = StudyItem(
                notebook_id=notebook,
                source_id=source,
                kind="flashcard",
                payload={"front": f"Question {n}?", "back": f"Answer {n}"},
            )
            session.add(item)
            await session.flush()
            due = moment + timedelta(minutes=n % 7)  # many share a due date: the id breaks ties
            session.add(CardState(item_id=item.id, notebook_id=notebook, due_at=due))
        await session.commit()
    cards, seen, cursor = f"/api/v1/notebooks/{notebook}/cards", [], None
    for _ in range(20):
        params = {"limit": 30, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(cards, params=params)).json()
        seen += [(card["due_at"], card["id"]) for card in page["cards"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    total = len((await client.get(cards, params={"limit": 500})).json()["cards"])
    assert total >= 99 and len(seen) == total and len(set(seen)) == total
    assert seen == sorted(seen, key=lambda due_id: (datetime.fromisoformat(due_id[0]), due_id[1]))
    bad = await client.get(cards, params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422


async def test_edit_suspend_delete_cards(client: AsyncClient, studied: tuple[str, str]) -> None:
    notebook, _ = studied
    card = (await client.get(f"/api/v1/notebooks/{notebook}/cards")).json()["cards"][0]
    base = f"/api/v1/notebooks/{notebook}/cards/{card['id']}"
    edited = (await client.patch(base, json={"front": "What fixes CO2?", "back": "RuBisCO"})).json()
    assert (edited["front"], edited["back"]) == ("What fixes CO2?", "RuBisCO")
    assert (await client.patch(base, json={"suspended": True})).json()["suspended"] is True
    assert (await client.post(f"{base}/review", json={"rating": "good"})).status_code == 422
    listed = (await client.get(f"/api/v1/notebooks/{notebook}/cards")).json()["cards"]
    assert card["id"] not in [c["id"] for c in listed]
    feed = (await client.get(f"/api/v1/notebooks/{notebook}/feed", params={"q": "RuBisCO"})).json()
    assert any(item["ref_id"] == card["id"] for item in feed["items"])
    assert (await client.delete(base)).status_code == 204
    assert (await client.get(base)).status_code == 404
    feed = (
        await client.get(f"/api/v1/notebooks/{notebook}/feed", params={"kind": "flashcard"})
    ).json()
    assert card["id"] not in [item["ref_id"] for item in feed["items"]]


async def test_export_cards_to_csv_and_anki(
    client: AsyncClient, studied: tuple[str, str], tmp_path: Path
) -> None:
    notebook, _ = studied
    card = (await client.get(f"/api/v1/notebooks/{notebook}/cards")).json()["cards"][0]
    await client.post(
        f"/api/v1/notebooks/{notebook}/cards/{card['id']}/review", json={"rating": "good"}
    )
    csv_response = await client.get(
        f"/api/v1/notebooks/{notebook}/cards/export", params={"format": "csv"}
    )
    assert (
        csv_response.status_code == 200
        and 'filename="bio.csv"' in csv_response.headers["content-disposition"]
    )
    lines = csv_response.text.strip().splitlines()
    count = len(
        (await client.get(f"/api/v1/notebooks/{notebook}/cards", params={"limit": 500})).json()[
            "cards"
        ]
    )
    assert len(lines) == count + 1
    apkg = await client.get(f"/api/v1/notebooks/{notebook}/cards/export", params={"format": "anki"})
    assert apkg.status_code == 200
    with zipfile.ZipFile(io.BytesIO(apkg.content)) as archive:
        assert "collection.anki2" in archive.namelist()
        collection = archive.read("collection.anki2")
    fields = await asyncio.to_thread(_note_fields, collection, tmp_path / "c.anki2")
    assert any("{{c1::" in text for text in fields)  # offline cards are Anki cloze notes


def _note_fields(collection: bytes, path: Path) -> list[str]:
    path.write_bytes(collection)
    connection = sqlite3.connect(path)
    try:
        return [row[0] for row in connection.execute("SELECT flds FROM notes")]
    finally:
        connection.close()


async def test_reprocessing_replaces_and_deleting_removes_material(
    api: Api, client: AsyncClient, studied: tuple[str, str]
) -> None:
    notebook, source = studied
    before = await items(client, notebook)
    response = await client.post(f"/api/v1/notebooks/{notebook}/sources/{source}/reprocess")
    assert response.status_code == 202
    await Worker(api.context).drain()
    after = await items(client, notebook)
    assert len(after) == len(before) and not {i["id"] for i in before} & {i["id"] for i in after}
    counts = (await client.get(f"/api/v1/notebooks/{notebook}/feed/counts")).json()
    assert counts["flashcard"] == sum(1 for i in after if i["kind"] == "flashcard")
    await client.delete(f"/api/v1/notebooks/{notebook}/sources/{source}")
    await Worker(api.context).drain()
    assert await items(client, notebook) == []
    assert sum((await client.get(f"/api/v1/notebooks/{notebook}/feed/counts")).json().values()) == 0


def _llm_reply() -> dict[str, Any]:
    return {
        "summary": [
            {
                "text": "Plants turn light into chemical energy.",
                "quote": "green plants convert light energy into chemical\nenergy",
            },
            {"text": "This sentence cites nothing real.", "quote": "the moon is made of cheese"},
        ],
        "key_points": [{"quote": "Chlorophyll is the green pigment"}],
        "qa": [
            {
                "question": "What does RuBisCO do?",
                "answer": "It catalyses carbon fixation.",
                "quote": "The enzyme RuBisCO catalyses the first step of carbon fixation.",
            }
        ],
        "cards": [
            {
                "front": "Where does photosynthesis happen?",
                "back": "In chloroplasts",
                "quote": "It takes place mainly in the chloroplasts of leaf cells.",
            }
        ],
    }


async def test_llm_engine_over_http_keeps_only_quoted_items(api: Api, client: AsyncClient) -> None:
    async with FakeOpenAI() as server:
        server.script(*(completion(json.dumps(_llm_reply())) for _ in range(10)))
        settings = api.context.settings.model_copy(
            update={
                "llm_provider": "openai",
                "llm_base_url": server.base_url,
                "llm_model": "test",
                "llm_api_key": "sk-test",
                "llm_timeout_seconds": 2.0,
            }
        )
        api.context.llm = await create_llm_client(settings)
        notebook = (await client.post("/api/v1/notebooks", json={"name": "LLM"})).json()["id"]
        await client.post(f"/api/v1/notebooks/{notebook}/sources", json={"text": TEXT})
        await Worker(api.context).drain()
        prompt = server.requests[0].content("user")[-1]
    found = await items(client, notebook)
    assert found and {item["engine"] for item in found} == {"llm"}
    summary = next(item for item in found if item["kind"] == "summary")
    assert [s["text"] for s in summary["payload"]["sentences"]] == [
        "Plants turn light into chemical energy."
    ]  # the sentence whose quote is not in the source was dropped
    cards = [item for item in found if item["kind"] == "flashcard"]
    assert cards[0]["payload"]["back"] == "In chloroplasts"
    assert "<source" in prompt and "Photosynthesis" in prompt


async def test_llm_failure_falls_back_to_the_offline_engine(api: Api, client: AsyncClient) -> None:
    async with FakeOpenAI() as server:
        server.script(*(error(500) for _ in range(40)))
        settings = api.context.settings.model_copy(
            update={
                "llm_provider": "openai",
                "llm_base_url": server.base_url,
                "llm_model": "m",
                "llm_api_key": "k",
                "llm_max_retries": 0,
                "llm_timeout_seconds": 1.0,
            }
        )
        api.context.llm = await create_llm_client(settings)
        notebook = (await client.post("/api/v1/notebooks", json={"name": "Down"})).json()["id"]
        await client.post(f"/api/v1/notebooks/{notebook}/sources", json={"text": TEXT})
        await Worker(api.context).drain()
    found = await items(client, notebook)
    assert {item["kind"] for item in found} >= {"summary", "flashcard"}
    jobs = (await client.get(f"/api/v1/notebooks/{notebook}/feed/counts")).json()
    assert jobs["flashcard"] >= 1
