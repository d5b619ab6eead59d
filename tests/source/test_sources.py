"""Sources over HTTP: add (file, text, URL), states, chunks with exact spans, duplicates, bad
input (wrong type, oversize, hostile URL), delete."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select

from learningtool import storage
from learningtool.jobs.worker import Worker
from learningtool.models import Chunk, Source
from tests.conftest import Api
from tests.ingestion.builders import docx_bytes, pdf_bytes

MARKDOWN = (
    "# Photosynthesis\n\nPlants turn light into chemical energy.\n\n"
    "## Light reactions\n\nThe light reactions happen in the thylakoid membranes.\n\n"
    "## Calvin cycle\n\nThe Calvin cycle fixes carbon dioxide into sugars.\n"
)


@pytest.fixture
async def notebook(client: AsyncClient) -> str:
    return (await client.post("/api/v1/notebooks", json={"name": "Biology"})).json()["id"]


async def upload(
    client: AsyncClient, notebook: str, data: bytes, name: str = "notes.md", **fields: str
) -> Any:
    return await client.post(
        f"/api/v1/notebooks/{notebook}/sources",
        files={"file": (name, data, "application/octet-stream")},
        data=fields,
    )


async def process(api: Api) -> None:
    await Worker(api.context).drain()


async def test_markdown_upload_becomes_chunks_with_exact_spans(
    api: Api, client: AsyncClient, notebook: str
) -> None:
    response = await upload(client, notebook, MARKDOWN.encode(), tags="bio, exam")
    assert response.status_code == 202, response.text
    body = response.json()
    source, job = body["source"], body["job"]
    assert source["status"] == "queued" and not body["duplicate"]
    assert source["media_type"] == "text/markdown"  # one form, before and after processing
    assert source["title"] == "notes.md" and source["tags"] == ["bio", "exam"]
    await process(api)

    base = f"/api/v1/notebooks/{notebook}/sources/{source['id']}"
    ready = (await client.get(base)).json()
    assert (ready["status"], ready["progress"], ready["media_type"]) == (
        "ready",
        1.0,
        "text/markdown",
    )
    assert (await client.get(f"/api/v1/jobs/{job['id']}")).json()["state"] == "succeeded"
    text = (await client.get(f"{base}/text")).text
    chunks = (await client.get(f"{base}/chunks")).json()["items"]
    assert chunks and "Calvin cycle" in text
    for chunk in chunks:
        assert text[chunk["start_char"] : chunk["end_char"]] == chunk["text"]
    calvin = next(c for c in chunks if "fixes carbon dioxide" in c["text"])
    assert calvin["heading_path"][-1] == "Calvin cycle"


async def test_pdf_pages_and_docx_headings(api: Api, client: AsyncClient, notebook: str) -> None:
    pdf = pdf_bytes([["Mitochondria make ATP."], ["Ribosomes build proteins."]])
    pdf_source = (await upload(client, notebook, pdf, "scan.bin")).json()["source"]
    docx = await asyncio.to_thread(docx_bytes)  # python-docx reads its template file
    docx_source = (await upload(client, notebook, docx, "file.pdf")).json()["source"]
    await process(api)
    for source, kind in ((pdf_source, "application/pdf"), (docx_source, "wordprocessingml")):
        base = f"/api/v1/notebooks/{notebook}/sources/{source['id']}"
        got = (await client.get(base)).json()
        assert got["status"] == "ready", got["error"]
        assert kind in got["media_type"]  # sniffed from bytes, not from the name
        text = (await client.get(f"{base}/text")).text
        for chunk in (await client.get(f"{base}/chunks")).json()["items"]:
            assert text[chunk["start_char"] : chunk["end_char"]] == chunk["text"]
    chunks = (
        await client.get(f"/api/v1/notebooks/{notebook}/sources/{pdf_source['id']}/chunks")
    ).json()
    pages = {c["page"] for c in chunks["items"] if "Ribosomes" in c["text"]}
    assert pages == {2}


async def test_pasted_text(api: Api, client: AsyncClient, notebook: str) -> None:
    response = await client.post(
        f"/api/v1/notebooks/{notebook}/sources",
        json={
            "text": "Osmosis moves water across a membrane.\n\nIt needs no energy.",
            "tags": ["x"],
        },
    )
    assert response.status_code == 202
    source = response.json()["source"]
    assert source["kind"] == "text" and source["title"] == "Osmosis moves water across a membrane."
    await process(api)
    base = f"/api/v1/notebooks/{notebook}/sources/{source['id']}"
    assert (await client.get(base)).json()["status"] == "ready"
    assert (await client.get(f"{base}/text")).text.startswith("Osmosis")


async def test_same_content_twice_returns_the_existing_source(
    api: Api, client: AsyncClient, notebook: str
) -> None:
    first = await upload(client, notebook, MARKDOWN.encode())
    again = await upload(client, notebook, MARKDOWN.encode(), "other-name.md")
    assert again.status_code == 200 and again.json()["duplicate"]
    assert again.json()["source"]["id"] == first.json()["source"]["id"]
    pasted = await client.post(f"/api/v1/notebooks/{notebook}/sources", json={"text": MARKDOWN})
    assert pasted.json()["source"]["id"] == first.json()["source"]["id"]
    other = (await client.post("/api/v1/notebooks", json={"name": "Other"})).json()["id"]
    assert (await upload(client, other, MARKDOWN.encode())).status_code == 202


async def test_concurrent_duplicate_uploads_make_one_source(
    api: Api, client: AsyncClient, notebook: str
) -> None:
    data = (MARKDOWN * 20).encode()
    responses = await asyncio.gather(*(upload(client, notebook, data) for _ in range(5)))
    assert sorted(r.status_code for r in responses).count(202) == 1
    assert len({r.json()["source"]["id"] for r in responses}) == 1
    async with api.context.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Source)) == 1
    await process(api)
    blobs = api.context.settings.notebooks_dir / notebook / "blobs"
    assert len(await asyncio.to_thread(lambda: list(blobs.iterdir()))) == 1  # no temp files left


async def test_wrong_type_is_415_with_the_supported_list(
    client: AsyncClient, notebook: str
) -> None:
    elf = b"\x7fELF\x02\x01\x01" + bytes(200)
    response = await upload(client, notebook, elf, "lecture.pdf")
    assert response.status_code == 415
    error = response.json()["error"]
    assert error["code"] == "unsupported_media_type" and "PDF" in error["details"]["supported"]
    form = await client.post(
        f"/api/v1/notebooks/{notebook}/sources", content=b"x", headers={"content-type": "text/csv"}
    )
    assert form.status_code == 415


async def test_oversized_upload_is_413_before_the_body_is_read(
    api: Api, client: AsyncClient, notebook: str
) -> None:
    api.context.settings.max_upload_bytes = 1000
    declared = await upload(client, notebook, b"a" * 5000, "big.txt")
    assert declared.status_code == 413
    assert declared.json()["error"]["code"] == "payload_too_large"

    sent = 0

    async def endless() -> AsyncIterator[bytes]:  # chunked: no Content-Length to trust
        nonlocal sent
        boundary_start = b'--b\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n\r\n'
        yield boundary_start
        for _ in range(10_000):
            sent += 1
            yield b"z" * 500

    streamed = await client.post(
        f"/api/v1/notebooks/{notebook}/sources",
        content=endless(),
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert streamed.status_code == 413
    assert sent < 100  # stopped reading long before the end
    async with api.context.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Source)) == 0
    blobs = api.context.settings.notebooks_dir / notebook / "blobs"
    assert await asyncio.to_thread(lambda: list(blobs.iterdir())) == []


async def test_malformed_bodies_are_422(client: AsyncClient, notebook: str) -> None:
    url = f"/api/v1/notebooks/{notebook}/sources"
    assert (await client.post(url, json={"text": ""})).status_code == 422
    assert (await client.post(url, json={"text": "a", "url": "http://x"})).status_code == 422
    assert (await client.post(url, json={"nothing": 1})).status_code == 422
    no_file = await client.post(url, data={"title": "x"}, files={"other": ("a", b"", "text/plain")})
    assert no_file.status_code in (415, 422)
    broken = await client.post(
        url, content=b"--b\r\ngarbage", headers={"content-type": "multipart/form-data; boundary=b"}
    )
    assert broken.status_code == 422


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
async def test_a_full_disk_is_a_clear_error_and_leaves_nothing(
    api: Api, client: AsyncClient, notebook: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writes to /dev/full fail with ENOSPC, as on a full disk: the staging file of the blob
    store is made to write there."""
    real_mkstemp = storage.tempfile.mkstemp

    def full_disk(**kwargs: Any) -> tuple[int, str]:
        descriptor, name = real_mkstemp(**kwargs)
        os.close(descriptor)
        return os.open("/dev/full", os.O_WRONLY), name

    monkeypatch.setattr(storage.tempfile, "mkstemp", full_disk)
    response = await upload(client, notebook, MARKDOWN.encode() * 400)
    pasted = await client.post(f"/api/v1/notebooks/{notebook}/sources", json={"text": "Notes."})
    monkeypatch.undo()
    for refused in (response, pasted):
        assert refused.status_code == 507, refused.text
        assert "disk is full" in refused.json()["error"]["message"]
    async with api.context.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Source)) == 0
    blobs = api.context.settings.notebooks_dir / notebook / "blobs"
    assert await asyncio.to_thread(_listing, blobs) == []
    assert (await upload(client, notebook, MARKDOWN.encode())).status_code == 202


@pytest.mark.parametrize(
    ("raw_name", "shown"),
    [
        (b"../../etc/passwd.md", "passwd.md"),
        (b"..\\..\\windows\\win.ini.md", "win.ini.md"),
        (b"notes\x00.md", "notes.md"),
        (b"x" * 1000 + b".md", "x" * 255),
    ],
)
async def test_hostile_file_names_are_only_display_names(
    api: Api, client: AsyncClient, notebook: str, raw_name: bytes, shown: str
) -> None:
    """The name a client sends is kept for display only, cleaned (last path part, no control
    characters, 255 at most); the file is stored under the source's id."""
    body = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="'
        + raw_name
        + b'"\r\nContent-Type: text/markdown\r\n\r\n'
        + MARKDOWN.encode()
        + b"\r\n--b--\r\n"
    )
    response = await client.post(
        f"/api/v1/notebooks/{notebook}/sources",
        content=body,
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 202, response.text
    source = response.json()["source"]
    assert source["original_name"] == shown and source["title"] == shown
    stored = await asyncio.to_thread(_listing, api.context.settings.notebooks_dir / notebook)
    assert [path.name for path in stored] == ["blobs"]
    blobs = await asyncio.to_thread(_listing, stored[0])
    assert [path.name for path in blobs] == [source["id"]]


async def test_form_fields_and_part_headers_are_bounded(
    api: Api, client: AsyncClient, notebook: str
) -> None:
    """The audit sent 20,000 extra form fields and they were accepted; python-multipart
    bounds a part's header itself."""
    url = f"/api/v1/notebooks/{notebook}/sources"
    many = {f"field{n}": "x" for n in range(25)}
    crowded = await client.post(
        url, data=many, files={"file": ("a.md", b"# A\n\nText.\n", "text/markdown")}
    )
    assert crowded.status_code == 422 and "more than 20 fields" in crowded.text
    head = b'--b\r\nContent-Disposition: form-data; name="t"; x="' + b"y" * 20_000 + b'"\r\n\r\n'
    long_header = await client.post(
        url, content=head, headers={"content-type": "multipart/form-data; boundary=b"}
    )
    assert long_header.status_code == 422
    async with api.context.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Source)) == 0
    blobs = api.context.settings.notebooks_dir / notebook / "blobs"
    assert await asyncio.to_thread(_listing, blobs) == []


def _listing(folder: Path) -> list[Path]:
    return list(folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/admin",
        "http://localhost:8000/",
        "http://10.0.0.5/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://2130706433/",
        "file:///etc/passwd",
        "ftp://example.org/x",
        "http://user:secret@example.org/",
        "http://metadata.google.internal/",
    ],
)
async def test_hostile_urls_are_refused(client: AsyncClient, notebook: str, url: str) -> None:
    response = await client.post(f"/api/v1/notebooks/{notebook}/sources", json={"url": url})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] in ("url_not_allowed", "invalid_input")


async def test_a_refused_loopback_url_says_how_to_allow_it(
    client: AsyncClient, notebook: str
) -> None:
    url = f"/api/v1/notebooks/{notebook}/sources"
    for address in ("http://127.0.0.1:8080/notes", "http://localhost/notes"):
        response = await client.post(url, json={"url": address})
        assert "LEARNINGTOOL_FETCH_ALLOW_LOOPBACK=true" in response.json()["error"]["message"]


async def test_a_file_in_a_wrongly_named_field_is_a_clear_422(
    client: AsyncClient, notebook: str
) -> None:
    """`curl -F upload=@notes.md` answered 415 "the file is empty"."""
    response = await client.post(
        f"/api/v1/notebooks/{notebook}/sources",
        files={"upload": ("notes.md", MARKDOWN.encode(), "text/markdown")},
    )
    assert response.status_code == 422
    assert "form field 'file'" in response.json()["error"]["message"]


async def test_an_unreachable_url_says_why_while_it_is_retried(
    api: Api, client: AsyncClient, notebook: str
) -> None:
    api.context.settings.fetch_allow_loopback = True
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    added = await client.post(
        f"/api/v1/notebooks/{notebook}/sources", json={"url": f"http://127.0.0.1:{port}/x"}
    )
    source = added.json()["source"]["id"]
    worker = Worker(api.context)
    [job] = await worker.claim_many(1)
    await worker.execute(job)  # the first attempt only
    waiting = (await client.get(f"/api/v1/notebooks/{notebook}/sources/{source}")).json()
    assert waiting["status"] == "extracting"
    assert "could not fetch the URL" in waiting["error"] and "trying again" in waiting["error"]


async def test_url_ingestion_end_to_end_from_a_loopback_server(
    api: Api, client: AsyncClient, notebook: str
) -> None:
    page = (
        b"<html><head><title>Enzymes</title></head><body><nav>Home | About</nav>"
        b"<main><h1>Enzymes</h1><p>Enzymes lower the activation energy of reactions.</p></main>"
        b"<script>var x = 1;</script></body></html>"
    )

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: "
            + str(len(page)).encode()
            + b"\r\nConnection: close\r\n\r\n"
            + page
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}/enzymes"
    refused = await client.post(f"/api/v1/notebooks/{notebook}/sources", json={"url": url})
    assert refused.status_code == 422  # loopback is refused by default
    api.context.settings.fetch_allow_loopback = True
    try:
        response = await client.post(f"/api/v1/notebooks/{notebook}/sources", json={"url": url})
        assert response.status_code == 202
        source = response.json()["source"]
        await process(api)
    finally:
        server.close()
    base = f"/api/v1/notebooks/{notebook}/sources/{source['id']}"
    got = (await client.get(base)).json()
    assert got["status"] == "ready", got["error"]
    text = (await client.get(f"{base}/text")).text
    assert "activation energy" in text and "var x" not in text and "About" not in text


async def test_a_corrupt_file_fails_its_job_with_a_reason(
    api: Api, client: AsyncClient, notebook: str
) -> None:
    pdf = pdf_bytes([["Some text on a page."]])
    response = await upload(client, notebook, pdf[: len(pdf) // 3], "cut.pdf")
    assert response.status_code == 202
    await process(api)
    source = response.json()["source"]
    got = (await client.get(f"/api/v1/notebooks/{notebook}/sources/{source['id']}")).json()
    assert got["status"] == "failed" and got["error"]
    assert "/" not in got["error"].replace("/s", "")  # no server path in the reason
    job = (await client.get(f"/api/v1/jobs/{response.json()['job']['id']}")).json()
    assert job["state"] == "failed" and job["error"] == got["error"]
    text = await client.get(f"/api/v1/notebooks/{notebook}/sources/{source['id']}/text")
    assert text.status_code == 409


async def test_delete_source_removes_chunks_and_blob(
    api: Api, client: AsyncClient, notebook: str
) -> None:
    source = (await upload(client, notebook, MARKDOWN.encode())).json()["source"]
    await process(api)
    response = await client.delete(f"/api/v1/notebooks/{notebook}/sources/{source['id']}")
    assert response.status_code == 202
    assert (
        await client.get(f"/api/v1/notebooks/{notebook}/sources/{source['id']}")
    ).status_code == 404
    await process(api)
    async with api.context.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Chunk)) == 0
    blobs = api.context.settings.notebooks_dir / notebook / "blobs"
    assert await asyncio.to_thread(lambda: list(blobs.iterdir())) == []
