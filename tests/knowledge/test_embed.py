"""Embeddings: the packaged local model through a real process pool (verified files, cosine
ordering, unit rows, the event loop kept free), and the HTTP providers over real loopback
HTTP against a scripted server (batching, retries on 429/5xx, clear errors)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from dataclasses import dataclass, replace
from http import HTTPStatus
from typing import Any, TypeVar

import numpy as np
import pytest

from learningtool.cpu import CpuPool
from learningtool.knowledge import embed as embed_module
from learningtool.knowledge.embed import (
    DEFAULT_LOCAL_MODEL,
    EmbeddingProviderError,
    EmbeddingSettings,
    EmbeddingUnavailableError,
    LocalEmbedder,
    ModelIntegrityError,
    OllamaEmbedder,
    OpenAIEmbedder,
    create_embedder,
    embed_in_worker,
    local_available,
    read_verified,
)

T = TypeVar("T")

needs_local_model = pytest.mark.skipif(
    not local_available(), reason="local embedding model not installed (the `embed` extra)"
)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


async def with_max_lag(awaitable: Awaitable[T], tick: float = 0.01) -> tuple[T, float]:
    """The awaitable's result and the longest the event loop was late for a ticker meanwhile."""
    loop = asyncio.get_running_loop()
    lags: list[float] = [0.0]
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            before = loop.time()
            await asyncio.sleep(tick)
            lags.append(loop.time() - before - tick)

    task = asyncio.create_task(ticker())
    try:
        result = await awaitable
    finally:
        done.set()
        await task
    return result, max(lags)


# -- the local model -----------------------------------------------------------------------


@pytest.mark.live_model
@needs_local_model
async def test_local_model_in_a_real_pool_ranks_paraphrases_first() -> None:
    texts = [
        "How do I make sure a file is closed after I finish reading it?",
        "Use the with statement: the file object is closed automatically when the block ends.",
        "Mitochondria release energy for the cell by respiration.",
        "The recipe needs two eggs, flour and a pinch of salt.",
        "Cellular respiration in mitochondria produces the cell's ATP.",
    ]
    pool = CpuPool(1)
    try:
        embedder = LocalEmbedder(pool, batch_size=2)  # three pool tasks
        assert embedder.name == "local:all-MiniLM-L6-v2-int8:384"
        assert embedder.dim == 384
        vectors, lag = await with_max_lag(embedder.embed(texts))
        query = await embedder.embed_query(texts[0])
        empty = await embedder.embed([])
    finally:
        await pool.close()

    assert vectors.shape == (5, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # The question is closest to its answer; the two respiration sentences to each other.
    question, answer, mito, recipe, respiration = vectors
    assert cosine(question, answer) > 0.5
    assert cosine(question, answer) > max(cosine(question, mito), cosine(question, recipe)) + 0.3
    assert cosine(mito, respiration) > cosine(mito, recipe) + 0.3
    assert cosine(mito, respiration) > cosine(mito, answer) + 0.3
    # No prefix for MiniLM: a query is embedded like a passage; batching changes nothing.
    assert query.shape == (1, 384)
    assert cosine(query[0], question) > 0.9999
    assert empty.shape == (0, 384)
    # Spawning the worker, loading the model and embedding all happen off the loop.
    assert lag < 0.5, f"event loop stalled for {lag:.3f} s"


@pytest.mark.live_model
@needs_local_model
async def test_worker_errors_come_back_typed() -> None:
    pool = CpuPool(1)
    try:
        with pytest.raises(EmbeddingUnavailableError, match="Unknown local embedding model"):
            await pool.run(30, embed_in_worker, "no-such-model", ["text"])
    finally:
        await pool.close()


@needs_local_model
def test_packaged_files_match_their_checksums() -> None:
    model = embed_module.local_model(DEFAULT_LOCAL_MODEL)
    assert len(read_verified(model.onnx)) == model.onnx.size
    assert len(read_verified(model.tokenizer)) == model.tokenizer.size


@needs_local_model
def test_a_tampered_checksum_refuses_to_load() -> None:
    model = embed_module.local_model(DEFAULT_LOCAL_MODEL)
    wrong = replace(model.tokenizer, sha256="0" * 64)
    with pytest.raises(ModelIntegrityError, match="does not match its recorded checksum"):
        read_verified(wrong)


def test_a_missing_package_says_how_to_install_it() -> None:
    model = embed_module.local_model(DEFAULT_LOCAL_MODEL)
    absent = replace(model.onnx, distribution="no-such-distribution-for-tests")
    with pytest.raises(EmbeddingUnavailableError, match=r"learningtool\[embed\]"):
        read_verified(absent)
    with pytest.raises(EmbeddingUnavailableError, match="Unknown local embedding model"):
        LocalEmbedder(CpuPool(1), "no-such-model")


# -- choosing from settings ----------------------------------------------------------------


def test_create_embedder_defaults_to_local_and_reads_settings() -> None:
    pool = CpuPool(1)  # never started: nothing is embedded here
    local = create_embedder(EmbeddingSettings(), pool)
    assert isinstance(local, LocalEmbedder)
    assert local.name == "local:all-MiniLM-L6-v2-int8:384"

    remote = create_embedder(
        EmbeddingSettings(
            provider="openai",
            base_url="http://127.0.0.1:9/v1",
            api_key="sk-test",
            model="text-embedding-3-small",
            batch_size=16,
        ),
        pool,
    )
    assert isinstance(remote, OpenAIEmbedder)
    assert remote.name == "openai:text-embedding-3-small:1536"
    assert remote.headers["Authorization"] == "Bearer sk-test"
    assert remote.batch_size == 16

    ollama = create_embedder(
        EmbeddingSettings(provider="ollama", model="custom", dim=3),
        pool,
    )
    assert isinstance(ollama, OllamaEmbedder)
    assert ollama.name == "ollama:custom:3"

    with pytest.raises(EmbeddingUnavailableError, match="Unknown embedding provider"):
        create_embedder(EmbeddingSettings(provider="magic"), pool)


# -- embedding servers over real HTTP ------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-encoded unless bytes
    headers: dict[str, str] | None = None


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: Any


class ScriptedServer:
    """A loopback HTTP/1.1 server answering each request with the next scripted reply (the
    last one repeats), one connection per request."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.seen: list[Seen] = []

    async def __aenter__(self) -> ScriptedServer:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.server.wait_closed()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        _method, path, _version = head[0].split(" ")
        headers = {
            name.strip().lower(): value.strip()
            for name, value in (line.split(":", 1) for line in head[1:] if line)
        }
        raw = await reader.readexactly(int(headers.get("content-length", "0")))
        self.seen.append(Seen(path, headers, json.loads(raw) if raw else None))
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        lines = [
            f"HTTP/1.1 {reply.status} {HTTPStatus(reply.status).phrase}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            "Connection: close",
            *(f"{k}: {v}" for k, v in (reply.headers or {}).items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await writer.drain()
        writer.close()
        await writer.wait_closed()


def openai_body(vectors: list[list[float]], reverse: bool = False) -> dict[str, Any]:
    data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
    return {"object": "list", "data": data[::-1] if reverse else data, "model": "m"}


def fast_openai(url: str, **kwargs: Any) -> OpenAIEmbedder:
    options: dict[str, Any] = {"backoff_seconds": 0.01, "timeout_seconds": 5.0, "dim": 3}
    options.update(kwargs)
    return OpenAIEmbedder(f"{url}/v1", "sk-test", "test-model", **options)


async def test_openai_batches_orders_by_index_and_normalises() -> None:
    replies = (
        Reply(body=openai_body([[3, 0, 4], [0, 2, 0]], reverse=True)),
        Reply(body=openai_body([[1, 1, 0]])),
    )
    async with ScriptedServer(*replies) as server:
        embedder = fast_openai(server.url, batch_size=2, document_prefix="passage: ")
        try:
            vectors = await embedder.embed(["a", "b", "c"])
        finally:
            await embedder.aclose()
    assert [s.path for s in server.seen] == ["/v1/embeddings", "/v1/embeddings"]
    assert server.seen[0].headers["authorization"] == "Bearer sk-test"
    assert server.seen[0].body["model"] == "test-model"
    assert server.seen[0].body["input"] == ["passage: a", "passage: b"]
    assert server.seen[1].body["input"] == ["passage: c"]
    half = 0.5**0.5
    expected = np.array([[0.6, 0.0, 0.8], [0.0, 1.0, 0.0], [half, half, 0.0]])
    np.testing.assert_allclose(vectors, expected)
    assert vectors.dtype == np.float32
    assert embedder.name == "openai:test-model:3"


async def test_openai_retries_a_429_then_succeeds() -> None:
    replies = (
        Reply(429, {"error": {"message": "Rate limit reached"}}, {"Retry-After": "0"}),
        Reply(body=openai_body([[1, 0, 0]])),
    )
    async with ScriptedServer(*replies) as server:
        embedder = fast_openai(server.url, query_prefix="query: ")
        try:
            vector = await embedder.embed_query("what?")
        finally:
            await embedder.aclose()
    assert len(server.seen) == 2
    assert server.seen[1].body["input"] == ["query: what?"]
    assert vector.shape == (1, 3)


async def test_openai_retries_a_500_then_succeeds() -> None:
    replies = (Reply(500, {"error": "boom"}), Reply(body=openai_body([[0, 0, 2]])))
    async with ScriptedServer(*replies) as server:
        embedder = fast_openai(server.url)
        try:
            vectors = await embedder.embed(["x"])
        finally:
            await embedder.aclose()
    assert len(server.seen) == 2
    np.testing.assert_allclose(vectors, [[0, 0, 1]])


async def test_a_server_that_keeps_failing_gives_up_with_the_status() -> None:
    async with ScriptedServer(Reply(503, {"error": "overloaded"})) as server:
        embedder = fast_openai(server.url, max_attempts=3)
        try:
            with pytest.raises(EmbeddingProviderError, match="HTTP 503: overloaded"):
                await embedder.embed(["x"])
        finally:
            await embedder.aclose()
    assert len(server.seen) == 3


async def test_a_client_error_is_not_retried() -> None:
    body = {"error": {"message": "Invalid model 'nope'"}}
    async with ScriptedServer(Reply(400, body)) as server:
        embedder = fast_openai(server.url)
        try:
            with pytest.raises(EmbeddingProviderError, match="HTTP 400: Invalid model 'nope'"):
                await embedder.embed(["x"])
        finally:
            await embedder.aclose()
    assert len(server.seen) == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>not json", "invalid JSON"),
        ({"data": [{"index": 0}]}, "no usable embeddings"),
        ({"unexpected": True}, "no usable embeddings"),
        (openai_body([[1, 0, 0], [0, 1, 0]]), "returned 2 vectors for 1 texts"),
        (openai_body([[1, 0, 0, 0]]), "returned 4 dimensions, expected 3"),
    ],
)
async def test_unusable_answers_are_clear_errors(body: Any, message: str) -> None:
    async with ScriptedServer(Reply(200, body)) as server:
        embedder = fast_openai(server.url)
        try:
            with pytest.raises(EmbeddingProviderError, match=message):
                await embedder.embed(["x"])
        finally:
            await embedder.aclose()
    assert len(server.seen) == 1


async def test_an_unreachable_server_is_a_clear_error() -> None:
    async with ScriptedServer(Reply()) as server:
        url = server.url
    embedder = fast_openai(url, max_attempts=2)  # the port is closed now
    try:
        with pytest.raises(EmbeddingProviderError, match="could not be reached"):
            await embedder.embed(["x"])
    finally:
        await embedder.aclose()


async def test_ollama_embeds_and_learns_the_dimension() -> None:
    replies = (
        Reply(body={"model": "custom", "embeddings": [[2, 0]]}),
        Reply(body={"model": "custom", "embeddings": [[0, 5], [1, 0]]}),
    )
    async with ScriptedServer(*replies) as server:
        embedder = OllamaEmbedder(server.url, "custom", backoff_seconds=0.01)
        with pytest.raises(EmbeddingUnavailableError, match="not known yet"):
            _ = embedder.name
        try:
            assert await embedder.detect_dim() == 2
            vectors = await embedder.embed(["a", "b"])
        finally:
            await embedder.aclose()
    assert embedder.name == "ollama:custom:2"
    assert [s.path for s in server.seen] == ["/api/embed", "/api/embed"]
    assert server.seen[1].body == {"model": "custom", "input": ["a", "b"]}
    assert "authorization" not in server.seen[1].headers
    np.testing.assert_allclose(vectors, [[0, 1], [1, 0]])
