"""A notebook's page and its sources over HTTP: another user's notebook or source is a 404 on
every route, changes without the CSRF token are refused (an upload's token must be the
header: its body is never parsed to look for it), refused uploads say why in words, pasted
text and URLs go through the service, the source page shows the chunk boundaries with their
page, a retry and a delete, and the live route sends a status change."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

from httpx import AsyncClient
from sqlalchemy import update

from learningtool.db import session_scope
from learningtool.jobs.worker import Worker
from learningtool.models import Job, Source, utcnow
from learningtool.ratelimit import Limit, RateLimiter
from learningtool.web.sessions import COOKIE
from learningtool.web.sources import in_context
from tests.conftest import Api
from tests.ingestion.builders import pdf_bytes
from tests.web.test_notebook_pages import csrf_of
from tests.web.test_sign_in import signed_in

NOTE = "# Cells\n\nThe cell membrane holds the cell together. Mitochondria make ATP.\n"


async def notebook_of(owner: AsyncClient, name: str = "Biology") -> str:
    answer = await owner.post("/api/v1/notebooks", json={"name": name})
    return str(answer.json()["id"])


async def page_token(http: AsyncClient, notebook_id: str) -> str:
    page = await http.get(f"/notebooks/{notebook_id}")
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


def upload(
    http: AsyncClient, notebook_id: str, content: bytes, token: str | None, name: str = "a.pdf"
) -> Any:
    headers = {"X-CSRF-Token": token} if token else {}
    return http.post(
        f"/notebooks/{notebook_id}/sources/file",
        files={"file": (name, content, "application/octet-stream")},
        headers=headers,
    )


async def test_the_notebook_page_lists_sources_with_an_empty_state(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as http:
        await signed_in(api, http)
        notebook_id = await notebook_of(owner)
        home = await http.get("/")
        assert f'href="/notebooks/{notebook_id}"' in home.text
        empty = await http.get(f"/notebooks/{notebook_id}")
        assert "has no sources yet" in empty.text
        assert 'name="file" type="file"' in empty.text and "/sources/upload" in empty.text
        assert "<script>" not in empty.text and " style=" not in empty.text
        await owner.post(f"/api/v1/notebooks/{notebook_id}/sources", json={"text": NOTE})
        listed = await http.get(f"/notebooks/{notebook_id}")
        assert "# Cells" in listed.text and "Pasted text" in listed.text
        assert "Waiting to be processed" in listed.text and "text/plain" in listed.text
        assert (await http.get("/assets/sources.js")).status_code == 200


async def test_upload_paste_and_url_through_the_services(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as http:
        await signed_in(api, http)
        notebook_id = await notebook_of(owner)
        token = await page_token(http, notebook_id)
        pdf = pdf_bytes([["Photosynthesis makes sugar."]])
        added = await upload(http, notebook_id, pdf, token, "leaf.pdf")
        assert added.status_code == 202, added.text
        assert added.json()["title"] == "leaf.pdf"
        again = await upload(http, notebook_id, pdf, token, "copy.pdf")
        assert again.status_code == 409
        assert again.json()["error"] == "This file is already in the notebook, as “leaf.pdf”."
        text = await http.post(
            f"/notebooks/{notebook_id}/sources/text",
            data={"title": "Cells", "text": NOTE, "csrf_token": token},
        )
        assert (text.status_code, text.headers["location"]) == (303, f"/notebooks/{notebook_id}")
        blank = await http.post(
            f"/notebooks/{notebook_id}/sources/text", data={"text": "  ", "csrf_token": token}
        )
        assert blank.status_code == 422 and "The text is empty." in blank.text
        url = await http.post(
            f"/notebooks/{notebook_id}/sources/url",
            data={"url": "https://example.org/cells", "csrf_token": token},
        )
        assert url.status_code == 303
        bad = await http.post(
            f"/notebooks/{notebook_id}/sources/url",
            data={"url": "file:///etc/passwd", "csrf_token": token},
        )
        assert bad.status_code == 422 and 'role="alert"' in bad.text
        assert "file:///etc/passwd" in bad.text  # the form keeps what was typed
        sources = (await owner.get(f"/api/v1/notebooks/{notebook_id}/sources")).json()
        assert [(s["kind"], s["title"]) for s in sources] == [
            ("file", "leaf.pdf"),
            ("text", "Cells"),
            ("url", "example.org"),
        ]
        assert sources[0]["media_type"] == "application/pdf"


async def test_a_refused_upload_says_why_in_words(api: Api) -> None:
    api.context.settings.max_upload_bytes = 1000
    async with api.client(api.token) as owner, api.client() as http:
        await signed_in(api, http)
        notebook_id = await notebook_of(owner)
        token = await page_token(http, notebook_id)
        large = await upload(http, notebook_id, b"%PDF-1.4\n" + b"0" * 5000, token)
        assert large.status_code == 413
        assert large.json()["error"].startswith("This file is too large: the limit is")
        wrong = await upload(http, notebook_id, b"\x00\x01\x02binary junk", token, "a.bin")
        assert wrong.status_code == 415
        message = wrong.json()["error"]
        assert message.startswith("This type of file cannot be read.")
        assert "Supported types: PDF" in message
        assert (await owner.get(f"/api/v1/notebooks/{notebook_id}/sources")).json() == []


async def test_changes_without_the_csrf_token_are_refused(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as http:
        await signed_in(api, http)
        notebook_id = await notebook_of(owner)
        token = await page_token(http, notebook_id)
        forged = await upload(http, notebook_id, b"Some notes.", None)
        assert forged.status_code == 403
        # In the body only: an upload's token must be the header (the body is not parsed).
        in_body = await http.post(
            f"/notebooks/{notebook_id}/sources/file",
            files={"file": ("a.txt", b"Some notes.", "text/plain")},
            data={"csrf_token": token},
        )
        assert in_body.status_code == 403
        elsewhere = await http.post(
            f"/notebooks/{notebook_id}/sources/file",
            files={"file": ("a.txt", b"Some notes.", "text/plain")},
            headers={"X-CSRF-Token": token, "Origin": "https://evil.example"},
        )
        assert elsewhere.status_code == 403
        for kind, data in (("text", {"text": NOTE}), ("url", {"url": "https://example.org/"})):
            refused = await http.post(f"/notebooks/{notebook_id}/sources/{kind}", data=data)
            assert refused.status_code == 403 and "did not come from this site" in refused.text
        assert (await owner.get(f"/api/v1/notebooks/{notebook_id}/sources")).json() == []
        added = await owner.post(f"/api/v1/notebooks/{notebook_id}/sources", json={"text": NOTE})
        source_id = added.json()["source"]["id"]
        for action in ("retry", "delete"):
            answer = await http.post(f"/notebooks/{notebook_id}/sources/{source_id}/{action}")
            assert answer.status_code == 403
        assert len((await owner.get(f"/api/v1/notebooks/{notebook_id}/sources")).json()) == 1


def multipart_file_then_token(token: str) -> tuple[bytes, str]:
    """A form whose CSRF field comes after its file: too late to be checked first."""
    boundary = "l4te-token"
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="notes.md"\r\n'
        f"Content-Type: text/markdown\r\n\r\n{NOTE}\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
        f"{token}\r\n--{boundary}--\r\n"
    )
    return body.encode(), f"multipart/form-data; boundary={boundary}"


async def test_the_plain_upload_form_checks_its_token_before_the_file(api: Api) -> None:
    """Without JavaScript the page posts one file in a plain form, its token first."""
    async with api.client(api.token) as owner, api.client() as http:
        await signed_in(api, http)
        notebook_id = await notebook_of(owner)
        token = await page_token(http, notebook_id)
        path = f"/notebooks/{notebook_id}/sources/upload"
        files = {"file": ("notes.md", NOTE.encode(), "text/markdown")}
        for data in ({}, {"csrf_token": "forged"}):
            refused = await http.post(path, files=files, data=data)
            assert refused.status_code == 403 and "did not come from this site" in refused.text
        body, content_type = multipart_file_then_token(token)
        late = await http.post(path, content=body, headers={"Content-Type": content_type})
        assert late.status_code == 403
        folder = api.context.blobs.notebooks_dir / notebook_id
        assert not await asyncio.to_thread(folder.exists)  # not a byte stored
        added = await http.post(path, files=files, data={"csrf_token": token})
        assert (added.status_code, added.headers["location"]) == (303, f"/notebooks/{notebook_id}")
        listed = (await owner.get(f"/api/v1/notebooks/{notebook_id}/sources")).json()
        assert [source["original_name"] for source in listed] == ["notes.md"]
        again = await http.post(path, files=files, data={"csrf_token": token})
        assert again.status_code == 409 and "is already in the notebook" in again.text
        junk = {"file": ("a.bin", b"\x00\x01\x02binary junk", "application/octet-stream")}
        wrong = await http.post(path, files=junk, data={"csrf_token": token})
        assert wrong.status_code == 415 and "This type of file cannot be read." in wrong.text


async def test_another_users_notebook_and_source_are_not_found(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as stranger:
        notebook_id = await notebook_of(owner)
        added = await owner.post(f"/api/v1/notebooks/{notebook_id}/sources", json={"text": NOTE})
        source_id = added.json()["source"]["id"]
        other = await api.new_user("other")
        assert (await stranger.post("/signin", data={"token": other})).status_code == 303
        token = csrf_of((await stranger.get("/")).text)
        own_notebook = await stranger.post("/notebooks", data={"name": "Mine", "csrf_token": token})
        assert own_notebook.status_code == 303
        theirs = f"/notebooks/{notebook_id}"
        for path in (
            theirs,
            f"{theirs}/events",
            f"{theirs}/sources/{source_id}",
            f"{theirs}/sources/{source_id}/delete",
            f"{theirs}/sources/{source_id}/passage?start=0&end=5",
        ):
            answer = await stranger.get(path)
            assert answer.status_code == 404, path
            assert "Notebook not found." in answer.text
        for path, data in (
            (f"{theirs}/sources/text", {"text": NOTE}),
            (f"{theirs}/sources/url", {"url": "https://example.org/"}),
            (f"{theirs}/sources/{source_id}/retry", {}),
            (f"{theirs}/sources/{source_id}/delete", {}),
        ):
            answer = await stranger.post(path, data={**data, "csrf_token": token})
            assert answer.status_code == 404, path
        refused = await upload(stranger, notebook_id, b"Some notes.", token, "a.txt")
        assert refused.status_code == 404
        # Their source under the stranger's own notebook is not found either.
        mine = (await stranger.get("/")).text.split('href="/notebooks/')[1].split('"')[0]
        mislaid = await stranger.get(f"/notebooks/{mine}/sources/{source_id}")
        assert mislaid.status_code == 404 and "Source not found." in mislaid.text
        sources = (await owner.get(f"/api/v1/notebooks/{notebook_id}/sources")).json()
        assert [s["status"] for s in sources] == ["queued"]


async def ready(api: Api, source_id: str, **values: Any) -> None:
    async with session_scope(api.context.sessions) as session:
        await session.execute(
            update(Source).where(Source.id == source_id).values(updated_at=utcnow(), **values)
        )


async def test_the_source_page_shows_chunk_boundaries_with_their_page(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as http:
        await signed_in(api, http)
        notebook_id = await notebook_of(owner)
        token = await page_token(http, notebook_id)
        pdf = pdf_bytes([["Photosynthesis makes sugar in leaves."], ["Roots take up water."]])
        source_id = (await upload(http, notebook_id, pdf, token, "plants.pdf")).json()["source_id"]
        waiting = await http.get(f"/notebooks/{notebook_id}/sources/{source_id}")
        assert "The text shows here once the source is ready" in waiting.text
        worker = Worker(api.context)
        runner = asyncio.create_task(worker.run())
        try:
            async with asyncio.timeout(30):
                while True:
                    listed = (await owner.get(f"/api/v1/notebooks/{notebook_id}/sources")).json()
                    if listed[0]["status"] in ("ready", "failed"):
                        break
                    await asyncio.sleep(0.1)
        finally:
            await worker.stop()
            runner.cancel()
        assert listed[0]["status"] == "ready", listed
        page = await http.get(f"/notebooks/{notebook_id}/sources/{source_id}")
        assert page.status_code == 200
        assert "Passage 1 · page 1" in page.text
        assert "Photosynthesis makes sugar in leaves." in page.text
        assert "Roots take up water." in page.text and "· page 2" in page.text
        text = (await owner.get(f"/api/v1/notebooks/{notebook_id}/sources/{source_id}/text")).text
        start = text.index("Roots")
        passage = await http.get(
            f"/notebooks/{notebook_id}/sources/{source_id}/passage?start={start}&end={start + 5}"
        )
        assert passage.status_code == 200
        assert '<mark id="span">Roots</mark> take up water.' in passage.text
        assert "Photosynthesis makes sugar" in passage.text and "· page 2" in passage.text
        confirm = await http.get(f"/notebooks/{notebook_id}/sources/{source_id}/delete")
        assert "cannot be undone" in confirm.text and "Delete source" in confirm.text
        deleted = await http.post(
            f"/notebooks/{notebook_id}/sources/{source_id}/delete", data={"csrf_token": token}
        )
        assert (deleted.status_code, deleted.headers["location"]) == (
            303,
            f"/notebooks/{notebook_id}",
        )
        assert (await owner.get(f"/api/v1/notebooks/{notebook_id}/sources")).json() == []
        gone = await http.get(f"/notebooks/{notebook_id}/sources/{source_id}")
        assert gone.status_code == 404 and "Source not found." in gone.text


async def test_a_failed_source_shows_its_reason_and_retries(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as http:
        await signed_in(api, http)
        notebook_id = await notebook_of(owner)
        token = await page_token(http, notebook_id)
        added = await owner.post(f"/api/v1/notebooks/{notebook_id}/sources", json={"text": NOTE})
        source_id = added.json()["source"]["id"]
        job_id = added.json()["job"]["id"]
        await ready(api, source_id, status="failed", error="the file has no readable text")
        async with session_scope(api.context.sessions) as session:
            await session.execute(update(Job).where(Job.id == job_id).values(state="failed"))
        page = await http.get(f"/notebooks/{notebook_id}")
        assert "The file has no readable text" in page.text
        assert f'action="/notebooks/{notebook_id}/sources/{source_id}/retry"' in page.text
        retried = await http.post(
            f"/notebooks/{notebook_id}/sources/{source_id}/retry", data={"csrf_token": token}
        )
        assert retried.status_code == 303
        source = (await owner.get(f"/api/v1/notebooks/{notebook_id}/sources/{source_id}")).json()
        assert (source["status"], source["error"]) == ("queued", None)
        assert source["job_id"] != job_id


@contextlib.asynccontextmanager
async def event_stream(api: Api, path: str, cookie: str) -> AsyncIterator[asyncio.Queue[str]]:
    """The server-sent events of `path`, read as they come: httpx's ASGI transport waits for
    a response's end, and this stream has none, so the app is called directly."""
    events: asyncio.Queue[str] = asyncio.Queue()
    buffer = ""
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()  # the browser never leaves; the task is cancelled
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        nonlocal buffer
        if message["type"] == "http.response.start" and not started.done():
            started.set_result(message["status"])
        elif message["type"] == "http.response.body":
            buffer += message.get("body", b"").decode()
            while "\r\n\r\n" in buffer:
                event, buffer = buffer.split("\r\n\r\n", 1)
                if not event.startswith(":"):
                    await events.put(event)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test"), (b"cookie", f"{COOKIE}={cookie}".encode())],
        "client": ("127.0.0.1", 1234),
        "server": ("test", 80),
    }
    task = asyncio.create_task(api.app(scope, receive, send))  # type: ignore[operator]
    try:
        async with asyncio.timeout(10):
            assert await started == 200
        yield events
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_a_span_in_context_is_cut_at_blanks_and_held_to_the_text() -> None:
    text = "alpha beta gamma delta epsilon"
    assert in_context(text, 11, 16, reach=8) == ["beta ", "gamma", " delta"]
    assert in_context(text, 0, 5, reach=100) == ["", "alpha", " beta gamma delta epsilon"]
    assert in_context(text, 23, 999, reach=3) == ["", "epsilon", ""]
    assert in_context(text, 16, 11, reach=0) == ["", "gamma", ""]


async def test_the_live_route_sends_status_changes_and_deletions(api: Api) -> None:
    async with api.client(api.token) as owner, api.client() as http:
        await signed_in(api, http)
        notebook_id = await notebook_of(owner)
        added = await owner.post(f"/api/v1/notebooks/{notebook_id}/sources", json={"text": NOTE})
        source_id = added.json()["source"]["id"]
        job_id = added.json()["job"]["id"]
        path = f"/notebooks/{notebook_id}/events"
        async with event_stream(api, path, http.cookies[COOKIE]) as events:
            async with asyncio.timeout(10):
                first = await events.get()
            assert first.startswith("event: sources")
            assert "Waiting to be processed" in first and f"source-{source_id}" in first
            await ready(api, source_id, status="indexing", progress=0.6)
            api.context.signals.job_changed(job_id)
            async with asyncio.timeout(10):
                second = await events.get()
            assert "Indexing (60%)" in second
            await ready(api, source_id, status="ready", progress=1.0)
            async with asyncio.timeout(10):  # no signal: the stream's poll sees it
                third = await events.get()
            assert "Ready" in third and "Indexing" not in third
            await owner.delete(f"/api/v1/notebooks/{notebook_id}/sources/{source_id}")
            async with asyncio.timeout(10):
                fourth = await events.get()
            assert f"source-{source_id}" not in fourth and "has no sources yet" in fourth


async def test_adding_spends_the_users_allowance_as_the_api_does(api: Api) -> None:
    limits = api.app.state.rate_limits  # type: ignore[attr-defined]
    sources = RateLimiter(Limit(1, 1), "sources added")
    api.app.state.rate_limits = dataclasses.replace(limits, sources=sources)  # type: ignore[attr-defined]
    async with api.client(api.token) as owner, api.client() as http:
        await signed_in(api, http)
        notebook_id = await notebook_of(owner)
        token = await page_token(http, notebook_id)
        refused = await upload(http, notebook_id, b"\x00\x01 junk", token, "a.bin")
        assert refused.status_code == 415  # refused: given back
        first = await upload(http, notebook_id, b"Some notes on cells.", token, "a.txt")
        assert first.status_code == 202
        second = await upload(http, notebook_id, b"Other notes on roots.", token, "b.txt")
        assert second.status_code == 429
        assert second.json()["error"].startswith("Too many sources added; try again in")
        text = await http.post(
            f"/notebooks/{notebook_id}/sources/text", data={"text": NOTE, "csrf_token": token}
        )
        assert text.status_code == 429 and "Too many sources added" in text.text
