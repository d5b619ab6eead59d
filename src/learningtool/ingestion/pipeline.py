"""One source's bytes to text and chunks, in a worker process (see `learningtool.cpu`).

The whole CPU-bound path (read, sniff, extract, OCR/ASR, chunk) runs in one pool call so
that only the small result crosses the process boundary, never the file's bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from learningtool.ingestion.chunk import Chunk, chunk
from learningtool.ingestion.document import Limits
from learningtool.ingestion.extract import extract
from learningtool.ingestion.sniff import sniff
from learningtool.knowledge.keys import IndexedChunk, describe


@dataclass(frozen=True)
class Processed:
    media_type: str
    text: str
    title: str
    meta: dict[str, Any]
    chunks: list[Chunk]
    keys: list[IndexedChunk]  # one per chunk: its id and embedding key


@dataclass(frozen=True)
class Job:
    """What to process, and how the source is named (the title goes into embeddings)."""

    path: str
    source_id: str
    title: str
    prefer_document_title: bool  # a fetched page names itself; an upload keeps its name
    limits: Limits
    max_tokens: int
    overlap_tokens: int


def process_file(job: Job) -> Processed:
    """Read, sniff, extract and chunk the file, and key the chunks for indexing. Raises
    `IngestionError`s."""
    data = Path(job.path).read_bytes()
    kind = sniff(data)
    extracted = extract(data, kind, limits=job.limits)
    chunks = chunk(extracted, max_tokens=job.max_tokens, overlap_tokens=job.overlap_tokens)
    title = job.title
    if job.prefer_document_title and extracted.title:
        title = extracted.title[:500]
    keys = [
        describe(job.source_id, title, c.ordinal, c.start_char, c.end_char, c.text, c.heading_path)
        for c in chunks
    ]
    return Processed(kind.media_type, extracted.text, title, dict(extracted.meta), chunks, keys)


def sniff_media_type(path: str) -> str:
    """The MIME type of a stored file, sniffed from its bytes (run in a thread: it reads the
    file)."""
    return sniff(Path(path).read_bytes()).media_type
