"""How chunks are keyed for indexing: their ids and the hash of the text that is embedded.

Pure and light (standard library only), because the ingestion worker process computes
these next to chunking, off the event loop.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class IndexedChunk:
    id: str
    embed_hash: str


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def embed_text(title: str, heading_path: Sequence[str], text: str) -> str:
    """What is embedded for a chunk: its source's title and headings, then its text, so that
    chunks of different documents that share boilerplate stay apart."""
    context = " > ".join(part for part in (title, *heading_path) if part)
    return f"{context}\n{text}" if context else text


def chunk_id(source_id: str, ordinal: int, start: int, end: int, text: str) -> str:
    """Deterministic, so a retried or repeated indexing of the same text gives the same ids
    (and the graph, keyed by them, stays consistent)."""
    key = f"{source_id}:{ordinal}:{start}:{end}:{text_hash(text)}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def describe(
    source_id: str,
    title: str,
    ordinal: int,
    start: int,
    end: int,
    text: str,
    heading_path: Sequence[str],
) -> IndexedChunk:
    return IndexedChunk(
        id=chunk_id(source_id, ordinal, start, end, text),
        embed_hash=text_hash(embed_text(title, heading_path, text)),
    )
