"""Sources through the whole service with the real engines (OCR, speech to text) and hostile
files: each ends ready with the right provenance, or failed with a readable reason."""

from __future__ import annotations

import asyncio
import io
import warnings

import pytest
from httpx import AsyncClient

from learningtool.jobs.worker import Worker
from tests.conftest import Api
from tests.ingestion import builders

# The engines do not depend on the database: one backend is enough here.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
async def notebook(client: AsyncClient) -> str:
    return (await client.post("/api/v1/notebooks", json={"name": "Media"})).json()["id"]


async def add_and_process(
    api: Api, client: AsyncClient, notebook: str, data: bytes, name: str
) -> dict:
    response = await client.post(
        f"/api/v1/notebooks/{notebook}/sources",
        files={"file": (name, data, "application/octet-stream")},
    )
    assert response.status_code == 202, response.text
    await Worker(api.context).drain()
    source_id = response.json()["source"]["id"]
    return (await client.get(f"/api/v1/notebooks/{notebook}/sources/{source_id}")).json()


async def chunks_of(client: AsyncClient, notebook: str, source: dict) -> tuple[str, list[dict]]:
    base = f"/api/v1/notebooks/{notebook}/sources/{source['id']}"
    text = (await client.get(f"{base}/text")).text
    chunks = (await client.get(f"{base}/chunks")).json()["items"]
    for chunk in chunks:
        assert text[chunk["start_char"] : chunk["end_char"]] == chunk["text"]
    return text, chunks


def _png_of_text() -> bytes:
    image = builders.text_image(["Mitochondria are the powerhouse of the cell."])
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@pytest.mark.slow
async def test_photo_of_a_page_is_read_by_ocr(api: Api, client: AsyncClient, notebook: str) -> None:
    png = await asyncio.to_thread(_png_of_text)
    source = await add_and_process(api, client, notebook, png, "photo.jpg")
    assert source["status"] == "ready", source["error"]
    text, chunks = await chunks_of(client, notebook, source)
    assert "powerhouse" in text.lower() and chunks


@pytest.mark.slow
async def test_pdf_page_that_is_only_an_image_is_read_by_ocr(
    api: Api, client: AsyncClient, notebook: str
) -> None:
    def build() -> bytes:
        scan = builders.text_image(["Photosynthesis happens in chloroplasts."])
        return builders.pdf_bytes([["A page with a text layer."], scan])

    source = await add_and_process(api, client, notebook, await asyncio.to_thread(build), "s.pdf")
    assert source["status"] == "ready", source["error"]
    _, chunks = await chunks_of(client, notebook, source)
    scanned = [c for c in chunks if "chloroplast" in c["text"].lower()]
    assert scanned and {c["page"] for c in scanned} == {2}


@pytest.mark.slow
async def test_speech_recording_is_transcribed_with_times(
    api: Api, client: AsyncClient, notebook: str
) -> None:
    wav = await asyncio.to_thread((builders.FIXTURES / "speech.wav").read_bytes)
    source = await add_and_process(api, client, notebook, wav, "lecture.mp4")
    assert source["status"] == "ready", source["error"]
    text, chunks = await chunks_of(client, notebook, source)
    assert "sugar" in text.lower() and "birds" in text.lower()
    assert all(c["audio_start"] is not None and c["audio_end"] is not None for c in chunks)
    assert 0 <= chunks[0]["audio_start"] < chunks[-1]["audio_end"] <= 6.0


async def test_zip_bomb_in_a_docx_fails_with_a_reason(
    api: Api, client: AsyncClient, notebook: str
) -> None:
    def build() -> bytes:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return builders.rezip(builders.docx_bytes(), {"word/media/x.png": bytes(32 << 20)})

    source = await add_and_process(api, client, notebook, await asyncio.to_thread(build), "a.docx")
    assert source["status"] == "failed"
    assert "zip bomb" in source["error"]


async def test_huge_image_dimensions_fail_without_decoding(
    api: Api, client: AsyncClient, notebook: str
) -> None:
    data = builders.png_header_only(100_000, 100_000)
    source = await add_and_process(api, client, notebook, data, "big.png")
    assert source["status"] == "failed" and "pixels" in source["error"].lower()


async def test_extraction_over_its_time_cap_fails_and_the_pool_recovers(
    api: Api, client: AsyncClient, notebook: str
) -> None:
    api.context.settings.extract_timeout_seconds = 0.001
    slow = await add_and_process(api, client, notebook, builders.long_pdf(30), "long.pdf")
    assert slow.get("status") == "failed" and "longer than" in slow["error"]
    api.context.settings.extract_timeout_seconds = 60
    fine = await add_and_process(api, client, notebook, b"# Fine\n\nStill works.\n", "ok.md")
    assert fine["status"] == "ready"
