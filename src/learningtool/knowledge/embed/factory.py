"""Choosing the embedder from the configuration. The app's `Settings` are read once into a
typed `EmbeddingSettings`, whose defaults are the ones each provider documents."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from learningtool.config import secret_value
from learningtool.knowledge.embed.errors import EmbeddingUnavailableError
from learningtool.knowledge.embed.local import DEFAULT_BATCH_SIZE as LOCAL_BATCH_SIZE
from learningtool.knowledge.embed.local import DEFAULT_QUERY_BATCH_SIZE, LocalEmbedder
from learningtool.knowledge.embed.ollama import (
    DEFAULT_OLLAMA_MODEL,
    DEFAULT_OLLAMA_URL,
    OllamaEmbedder,
)
from learningtool.knowledge.embed.openai_compatible import (
    DEFAULT_OPENAI_MODEL,
    DEFAULT_OPENAI_URL,
    OpenAIEmbedder,
)
from learningtool.knowledge.embed.packaged import DEFAULT_LOCAL_MODEL
from learningtool.knowledge.embed.remote import DEFAULT_BATCH_SIZE as HTTP_BATCH_SIZE
from learningtool.knowledge.embed.remote import HttpOptions

if TYPE_CHECKING:
    from learningtool.config import Settings
    from learningtool.cpu import CpuPool
    from learningtool.knowledge.embed.protocol import Embedder


@dataclass(frozen=True)
class EmbeddingSettings:
    """The embedder to build. `model` and `timeout_seconds` left as None take the provider's
    default; `dim` is needed for a server model not in `KNOWN_DIMS`; the prefixes apply to
    servers only (the local model has its own)."""

    provider: str = "local"
    model: str | None = None
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    dim: int | None = None
    batch_size: int | None = None  # None: the provider's default
    query_batch_size: int = DEFAULT_QUERY_BATCH_SIZE  # the local model's (`QueryBatcher`)
    timeout_seconds: float | None = None
    query_prefix: str = ""
    document_prefix: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> EmbeddingSettings:
        return cls(
            provider=settings.embedding_provider,
            model=settings.embedding_model,
            base_url=settings.embedding_base_url,
            api_key=secret_value(settings.embedding_api_key),
            dim=settings.embedding_dim,
            batch_size=settings.embedding_batch_size,
            query_batch_size=settings.embedding_query_batch_size,
            timeout_seconds=settings.embedding_timeout_seconds,
            query_prefix=settings.embedding_query_prefix,
            document_prefix=settings.embedding_document_prefix,
        )

    @classmethod
    def of(cls, settings: Settings | EmbeddingSettings) -> EmbeddingSettings:
        return settings if isinstance(settings, EmbeddingSettings) else cls.from_settings(settings)


def create_embedder(settings: Settings | EmbeddingSettings, pool: CpuPool) -> Embedder:
    """The embedder the settings ask for: "local" (the packaged model), "openai" or "ollama".
    ("hashing" and the fallback without the `embed` extra are the context's choice.)"""
    chosen = EmbeddingSettings.of(settings)
    provider = chosen.provider.lower()
    if provider == "local":
        return LocalEmbedder(
            pool,
            chosen.model or DEFAULT_LOCAL_MODEL,
            batch_size=chosen.batch_size or LOCAL_BATCH_SIZE,
            timeout_seconds=chosen.timeout_seconds or 120.0,
            query_batch_size=chosen.query_batch_size,
        )
    # The server providers' timeouts, when not configured, are their own defaults.
    options = HttpOptions(
        batch_size=chosen.batch_size or HTTP_BATCH_SIZE,
        timeout_seconds=chosen.timeout_seconds,
        query_prefix=chosen.query_prefix,
        document_prefix=chosen.document_prefix,
    )
    if provider == "openai":
        return OpenAIEmbedder(
            chosen.base_url or DEFAULT_OPENAI_URL,
            chosen.api_key or None,
            chosen.model or DEFAULT_OPENAI_MODEL,
            chosen.dim,
            **options,
        )
    if provider == "ollama":
        return OllamaEmbedder(
            chosen.base_url or DEFAULT_OLLAMA_URL,
            chosen.model or DEFAULT_OLLAMA_MODEL,
            chosen.dim,
            **options,
        )
    raise EmbeddingUnavailableError(
        f"Unknown embedding provider {provider!r}: use local, openai or ollama."
    )
