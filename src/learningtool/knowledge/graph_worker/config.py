"""What the service passes to the worker process: small picklable types, cheap to import
(the service imports this module; LightRAG is never imported here)."""

from __future__ import annotations

import itertools
import re
import zlib
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
    """Deterministic feature hashing of word unigrams and bigrams, L2-normalised.

    Not the service's `HashingEmbedder` (BLAKE2b): every graph on disk holds vectors made by
    this CRC-32 hashing, and changing it would silently mismatch them with new queries until
    each notebook is reindexed. The two stay apart until a graph records which one it uses."""

    async def embed(texts: list[str], **_: Any) -> Any:
        return crc_hash_vectors(texts, dim)

    return EmbeddingSpec(dim=dim, embed=embed, name=f"hashing-{dim}")


_HASH_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def crc_hash_vectors(texts: list[str], dim: int) -> Any:
    """Rows of `dim` floats: each word and word pair adds +1 or -1 (by its CRC-32) at the
    position its CRC-32 names; rows are scaled to unit length."""
    import numpy as np

    out = np.zeros((len(texts), dim), dtype=np.float32)
    for row, text in enumerate(texts):
        words = _HASH_WORD.findall(text.lower())
        features = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
        if not features:
            continue
        codes = np.fromiter(
            (zlib.crc32(f.encode("utf-8")) for f in features), dtype=np.uint32, count=len(features)
        )
        signs = np.where(codes & 0x80000000, 1.0, -1.0).astype(np.float32)
        np.add.at(out[row], codes % dim, signs)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return out / norms


@dataclass(frozen=True)
class WorkerConfig:
    notebooks_dir: str
    embedding_factory: Callable[[], EmbeddingSpec] = hashing_embedding
    max_phrases: int = 8
    cosine_threshold: float = 0.05
    max_open_workspaces: int = 16
    log_level: str = "WARNING"
