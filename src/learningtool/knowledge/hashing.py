"""A feature-hashing embedder: deterministic, instant, no model.

Words and word pairs are hashed into a fixed number of dimensions and L2-normalised. It
knows no synonyms, so it is no substitute for a trained model in retrieval quality; it is
the embedder of the tests (fast and reproducible) and a fallback when no model is
installed (`EMBEDDING_PROVIDER=hashing`).
"""

from __future__ import annotations

import hashlib
import itertools
import re

import numpy as np
from numpy.typing import NDArray

_WORD = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder:
    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.name = f"hashing-{dim}"

    def _vector(self, text: str) -> NDArray[np.float32]:
        vector = np.zeros(self.dim, dtype=np.float32)
        words = _WORD.findall(text.lower())
        for feature in [*words, *(f"{a} {b}" for a, b in itertools.pairwise(words))]:
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            index = int.from_bytes(digest[:4], "little") % self.dim
            sign = 1.0 if digest[4] & 1 else -1.0
            vector[index] += sign
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector

    async def embed(self, texts: list[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vector(text) for text in texts])

    async def embed_query(self, text: str) -> NDArray[np.float32]:
        return await self.embed([text])
