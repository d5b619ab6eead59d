"""What the rest of the service uses: `embed(texts)` for passages and `embed_query(text)` for a
question (some models want a prefix on one side), both returning float32 rows of unit length,
so a dot product is the cosine similarity. `name` is a stable id of the model and its
dimension: vectors are cached under it, and a different name means different vectors."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

Vectors = NDArray[np.float32]


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
