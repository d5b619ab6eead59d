"""What the embedding servers have in common: batching, retries, validation, normalisation.

The HTTP providers batch, retry 429 and 5xx answers and transport errors a few times with
exponential backoff (honouring `Retry-After`), and turn anything else (another status, a body
that is not the expected JSON, vectors of the wrong count or size) into an
`EmbeddingProviderError` with a readable message; vectors are L2-normalised here whatever the
server does.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from typing import Any, TypedDict

import httpx
import numpy as np

from learningtool.knowledge.embed.errors import EmbeddingProviderError, EmbeddingUnavailableError
from learningtool.knowledge.embed.protocol import Vectors, normalise
from learningtool.retry import retry_after_seconds

RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})

# Output sizes of models often used through the HTTP providers, so that `dim` (and `name`)
# are known before the first request; any other model needs `dim` (`embedding_dim`) or a
# call to `detect_dim()`.
KNOWN_DIMS: Mapping[str, int] = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
    "nomic-embed-text": 768,
    "mxbai-embed-large": 1024,
    "all-minilm": 384,
    "snowflake-arctic-embed": 1024,
    "bge-m3": 1024,
}


class HttpOptions(TypedDict, total=False):
    """The keyword options every HTTP embedder takes, declared once: a provider's constructor
    names only what is its own (URL, model, key) and passes these on as they came."""

    batch_size: int
    timeout_seconds: float | None  # None or 0: the provider's `default_timeout_seconds`
    max_attempts: int
    backoff_seconds: float
    query_prefix: str
    document_prefix: str


# Texts per request to an embedding server: fewer requests, and a server has its own queue.
DEFAULT_BATCH_SIZE = 64


class HttpEmbedder:
    """Batching, retries, validation and normalisation shared by the HTTP providers."""

    provider = "http"
    default_timeout_seconds = 60.0

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        dim: int | None = None,
        headers: Mapping[str, str] | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        timeout_seconds: float | None = None,
        max_attempts: int = 4,
        backoff_seconds: float = 0.5,
        query_prefix: str = "",
        document_prefix: str = "",
    ) -> None:
        timeout_seconds = timeout_seconds or self.default_timeout_seconds
        if not model:
            raise EmbeddingUnavailableError(
                f"No embedding model is configured for {self.provider}."
            )
        self.base_url = base_url.rstrip("/")
        self.model = model
        self._dim = dim or KNOWN_DIMS.get(model.split(":")[0])
        self.headers = dict(headers or {})
        self.batch_size = max(1, batch_size)
        self.timeout = httpx.Timeout(timeout_seconds, connect=min(10.0, timeout_seconds))
        self.max_attempts = max(1, max_attempts)
        self.backoff_seconds = backoff_seconds
        self.query_prefix = query_prefix
        self.document_prefix = document_prefix
        self._client: httpx.AsyncClient | None = None

    @property
    def dim(self) -> int:
        if self._dim is None:
            raise EmbeddingUnavailableError(
                f"The dimension of {self.provider} model {self.model!r} is not known yet: "
                "set embedding_dim, or call detect_dim() first."
            )
        return self._dim

    @property
    def name(self) -> str:
        return f"{self.provider}:{self.model}:{self.dim}"

    async def detect_dim(self) -> int:
        """Ask the server once for the model's dimension (when not configured)."""
        if self._dim is None:
            await self._embed_batch(["dimension probe"])
        return self.dim

    async def embed(self, texts: list[str]) -> Vectors:
        texts = [self.document_prefix + t for t in texts]
        if not texts:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        parts = [
            await self._embed_batch(texts[start : start + self.batch_size])
            for start in range(0, len(texts), self.batch_size)
        ]
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    async def embed_query(self, text: str) -> Vectors:
        return await self._embed_batch([self.query_prefix + text])

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    # Subclasses: the request of one batch and the vectors in its answer.
    def _request(self, texts: list[str]) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError

    def _vectors(self, body: Any) -> list[Any]:
        raise NotImplementedError

    async def _embed_batch(self, texts: list[str]) -> Vectors:
        url, payload = self._request(texts)
        response = await self._post(url, payload)
        try:
            body = response.json()
        except ValueError:
            raise EmbeddingProviderError(
                f"The {self.provider} embedding server answered with invalid JSON "
                f"(HTTP {response.status_code})."
            ) from None
        try:
            rows = self._vectors(body)
            array = np.asarray(rows, dtype=np.float32)
        except (KeyError, TypeError, ValueError, IndexError):
            raise EmbeddingProviderError(
                f"The {self.provider} embedding server's answer has no usable embeddings."
            ) from None
        if array.ndim != 2 or array.shape[0] != len(texts) or array.shape[1] == 0:
            count = array.shape[0] if array.ndim else 0
            raise EmbeddingProviderError(
                f"The {self.provider} embedding server returned {count} vectors "
                f"for {len(texts)} texts."
            )
        if not np.isfinite(array).all():
            raise EmbeddingProviderError(
                f"The {self.provider} embedding server returned non-finite values."
            )
        if self._dim is None:
            self._dim = int(array.shape[1])
        elif array.shape[1] != self._dim:
            raise EmbeddingProviderError(
                f"The {self.provider} model {self.model!r} returned {array.shape[1]} dimensions, "
                f"expected {self._dim}."
            )
        return normalise(array)

    async def _post(self, url: str, payload: dict[str, Any]) -> httpx.Response:
        client = await self._http()
        problem = ""
        for attempt in range(self.max_attempts):
            delay = self.backoff_seconds * 2**attempt * (0.5 + random.random() / 2)
            try:
                response = await client.post(url, json=payload)
            except httpx.TransportError as exc:  # connection refused, reset, timeouts
                problem = f"could not be reached ({type(exc).__name__})"
            else:
                if response.status_code < 300:
                    return response
                problem = f"answered HTTP {response.status_code}{_detail(response)}"
                if response.status_code not in RETRY_STATUSES:
                    break
                delay = max(delay, retry_after_seconds(response.headers) or 0.0)
            if attempt + 1 < self.max_attempts:
                await asyncio.sleep(min(delay, 30.0))
        raise EmbeddingProviderError(
            f"The {self.provider} embedding server at {self.base_url} {problem}."
        )

    async def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            # Building the client loads the CA bundle from disk: not on the event loop.
            self._client = await asyncio.to_thread(
                httpx.AsyncClient, timeout=self.timeout, headers=self.headers
            )
        return self._client


def _detail(response: httpx.Response) -> str:
    """A short, printable reason from an error body (OpenAI and Ollama shapes), if any."""
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        error = error.get("message")
    return f": {str(error)[:200]}" if error else ""
