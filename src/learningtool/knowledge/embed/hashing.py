"""Feature hashing: deterministic, instant, no model. The knowledge-graph worker keeps its
own CRC-32 variant (`graph_worker.config.hashing_embedding`), which the graphs on disk
were built with.

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


def hash_vectors(texts: list[str], dim: int) -> NDArray[np.float32]:
    """Rows of `dim` floats: each word and word pair adds +1 or -1 (by its BLAKE2b digest) at
    the position its digest names; rows are scaled to unit length (an empty text stays zero)."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for row, text in enumerate(texts):
        words = _WORD.findall(text.lower())
        for feature in [*words, *(f"{a} {b}" for a, b in itertools.pairwise(words))]:
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            index = int.from_bytes(digest[:4], "little") % dim
            out[row, index] += 1.0 if digest[4] & 1 else -1.0
        norm = float(np.linalg.norm(out[row]))
        if norm:
            out[row] /= norm
    return out


class HashingEmbedder:
    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.name = f"hashing-{dim}"

    async def embed(self, texts: list[str]) -> NDArray[np.float32]:
        return hash_vectors(texts, self.dim)

    async def embed_query(self, text: str) -> NDArray[np.float32]:
        return await self.embed([text])
