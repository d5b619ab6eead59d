"""Sentence centrality for extractive summaries: LexRank with TF-IDF cosine weights.

LexRank (Erkan & Radev, 2004) scores a sentence by how strongly the rest of the text points
at it: PageRank over the graph whose edges are the cosine similarities of the sentences'
TF-IDF vectors. It needs no training data and no model, works on any language our tokenizer
splits, and is deterministic. Sections longer than `window` sentences are ranked window by
window (local centrality), which bounds time and memory to O(n * window).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

DAMPING = 0.85
MAX_ITERATIONS = 100
TOLERANCE = 1e-12


def centrality(bags: Sequence[Sequence[str]], *, window: int = 400) -> list[float]:
    """One score per sentence (its normalized words), higher is more central."""
    scores: list[float] = []
    for start in range(0, len(bags), max(window, 2)):
        scores.extend(_lexrank(bags[start : start + max(window, 2)]))
    return scores


def redundant(left: set[str], right: set[str], threshold: float = 0.5) -> bool:
    """Two sentences say nearly the same when their word sets overlap (Jaccard) this much."""
    if not left or not right:
        return False
    return len(left & right) / len(left | right) > threshold


def _lexrank(bags: Sequence[Sequence[str]]) -> list[float]:
    n = len(bags)
    if n <= 1:
        return [1.0] * n
    counts = [Counter(bag) for bag in bags]
    df: Counter[str] = Counter()
    for count in counts:
        df.update(count.keys())
    # only words shared by two sentences create edges; the others still count in the norm
    shared = sorted(word for word, d in df.items() if d >= 2)
    column = {word: index for index, word in enumerate(shared)}
    matrix = np.zeros((n, len(shared)), dtype=np.float64)
    for row, count in enumerate(counts):
        weights = {w: c * (math.log((1 + n) / (1 + df[w])) + 1.0) for w, c in count.items()}
        norm = math.sqrt(sum(v * v for v in weights.values())) or 1.0
        for word, value in weights.items():
            if word in column:
                matrix[row, column[word]] = value / norm
    similarity = matrix @ matrix.T
    np.fill_diagonal(similarity, 0.0)
    sums = similarity.sum(axis=1, keepdims=True)
    transition = np.where(sums > 0, similarity / np.where(sums > 0, sums, 1.0), 1.0 / n)
    rank = np.full(n, 1.0 / n)
    for _ in range(MAX_ITERATIONS):
        updated = (1.0 - DAMPING) / n + DAMPING * (transition.T @ rank)
        if float(np.abs(updated - rank).sum()) < TOLERANCE:
            rank = updated
            break
        rank = updated
    return [float(value) for value in rank * n]
