"""What the service passes to the worker process: small picklable types, cheap to import
(the service imports this module; LightRAG is never imported here)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

EmbedFn = Callable[[list[str]], Awaitable[Any]]
NOTEBOOK_ID = re.compile(r"[0-9a-zA-Z]{1,64}")


@dataclass(frozen=True)
class EmbeddingSpec:
    """An embedding function for LightRAG's vector stores: `embed(texts)` returns an array of
    shape (len(texts), dim)."""

    dim: int
    embed: EmbedFn
    name: str


def hashing_embedding(dim: int = 256) -> EmbeddingSpec:
    """Deterministic feature hashing of word unigrams and bigrams, L2-normalised (the same
    vectors as the service's `HashingEmbedder`)."""

    async def embed(texts: list[str], **_: Any) -> Any:
        from learningtool.knowledge.embed.hashing import hash_vectors

        return hash_vectors(texts, dim)

    return EmbeddingSpec(dim=dim, embed=embed, name=f"hashing-{dim}")


@dataclass(frozen=True)
class WorkerConfig:
    notebooks_dir: str
    embedding_factory: Callable[[], EmbeddingSpec] = hashing_embedding
    max_phrases: int = 8
    cosine_threshold: float = 0.05
    max_open_workspaces: int = 16
    log_level: str = "WARNING"
