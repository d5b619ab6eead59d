"""SIGKILL the server (and its worker processes) while it streams an upload, extracts,
indexes and researches; start it again: every accepted source and run finishes exactly once,
nothing is duplicated, no stray blob is left, and no job stays "running"."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from learningtool.db import sync_url
from tests.conftest import _truncate_postgres
from tests.support.server import Server

ENV = {
    "LEARNINGTOOL_JOB_LEASE_SECONDS": "2",
    "LEARNINGTOOL_JOB_BACKOFF_SECONDS": "0",
    "LEARNINGTOOL_STRAY_BLOB_GRACE_SECONDS": "0",
    "LEARNINGTOOL_RATE_SOURCES_PER_MINUTE": "0",
}
PARAGRAPH = (
    "Tides are the rise and fall of sea levels caused by the gravity of the Moon and the Sun "
    "acting on the rotating Earth. Spring tides happen at new and full moon; neap tides at the "
    "quarter moons, when the pulls of the Sun and the Moon are at right angles. "
)


def _document(number: int, paragraphs: int) -> str:
    body = "\n\n".join(f"{PARAGRAPH}(Section {number}.{n}.)" for n in range(paragraphs))
    return f"# Tides, part {number}\n\n{body}\n"


def _begin_upload(server: Server, notebook: str, token: str) -> socket.socket:
    """An upload that announces 8 MB and sends a quarter of it: the server is streaming it
    into the blob store when it is killed."""
    boundary = "cut"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.md"\r\n'
        "Content-Type: text/markdown\r\n\r\n"
    ).encode()
    request = (
        f"POST /api/v1/notebooks/{notebook}/sources HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {8 * 2**20}\r\n\r\n"
    ).encode()
    connection = socket.create_connection(("127.0.0.1", server.port))
    connection.sendall(request + head + b"# Big\n\n" + b"words " * (2**21 // 6))
    return connection


def _wait_for(http: httpx.Client, url: str, statuses: set[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if {s["status"] for s in http.get(url).json()} & statuses:
            return
        time.sleep(0.02)
    raise AssertionError(f"no source reached {statuses}")


def _settle(database: str, seconds: float = 180) -> None:
    """Until no job is waiting or running (sources, study material, topics, research)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _rows(database, "SELECT id FROM jobs WHERE state IN ('queued', 'running')"):
            return
        time.sleep(0.3)
    raise AssertionError("the work did not settle after the restarts")


def _rows(url: str, query: str, **params: Any) -> list[Any]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(query), params))
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_killed_mid_work_everything_finishes_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    data = tmp_path / "data"
    url = None
    if backend == "postgresql":
        url = request.getfixturevalue("postgres_url")
        _truncate_postgres(url)
    database = url or f"sqlite+aiosqlite:///{data / 'learningtool.db'}"
    server = Server(data, url, ENV)
    token = server.wait_ready()
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.base, headers=headers, timeout=30) as http:
        notebook = http.post("/api/v1/notebooks", json={"name": "Killed"}).json()["id"]
        sources = f"/api/v1/notebooks/{notebook}/sources"
        added = [
            http.post(sources, json={"text": _document(n, 60 + 120 * (n % 3))}).json()
            for n in range(8)
        ]
        started = http.post(
            f"/api/v1/notebooks/{notebook}/research", json={"question": "What causes tides?"}
        ).json()
        upload = _begin_upload(server, notebook, token)
        _wait_for(http, sources, {"extracting", "indexing"})
    server.kill()  # 1: an upload half-streamed, sources mid-extraction, a research run queued
    upload.close()

    for _kill in range(2):  # 2 and 3: killed again while the restarted server works
        server = Server(data, url, ENV)
        server.wait_ready()
        with httpx.Client(base_url=server.base, headers=headers, timeout=30) as http:
            _wait_for(http, sources, {"queued", "extracting", "indexing"})
            time.sleep(0.3)
        server.kill()

    server = Server(data, url, ENV)
    server.wait_ready()
    try:
        with httpx.Client(base_url=server.base, headers=headers, timeout=30) as http:
            run = started["run"]["id"]
            _settle(database)
            final = http.get(sources).json()
            report = http.get(f"/api/v1/notebooks/{notebook}/research/{run}").json()
    finally:
        server.stop()

    ids = [a["source"]["id"] for a in added]
    pasted = {s["id"]: s for s in final if s["kind"] == "text"}
    assert sorted(pasted) == sorted(ids), "a source was lost or duplicated"
    assert {s["status"] for s in pasted.values()} == {"ready"}, final
    assert report["status"] == "done" and report["source_id"] in {s["id"] for s in final}
    assert sum(1 for s in final if s["kind"] == "research") == 1
    duplicated = _rows(
        database,
        "SELECT source_id, ordinal FROM chunks GROUP BY source_id, ordinal HAVING COUNT(*) > 1",
    )
    assert duplicated == []
    feed_twice = _rows(
        database,
        "SELECT ref_id FROM feed_items WHERE kind = 'chunk' GROUP BY ref_id HAVING COUNT(*) > 1",
    )
    assert feed_twice == []
    stuck = _rows(database, "SELECT kind, state FROM jobs WHERE state IN ('queued', 'running')")
    assert stuck == []
    owned = {row[0] for row in _rows(database, "SELECT blob_key FROM sources")}
    stored = {p.name for p in (data / "notebooks" / notebook / "blobs").iterdir()}
    assert stored == owned - {None}, "a stray blob (or a missing one)"
