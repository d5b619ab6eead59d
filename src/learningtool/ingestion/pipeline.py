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


@dataclass(frozen=True)
class Processed:
    media_type: str
    text: str
    title: str | None
    meta: dict[str, Any]
    chunks: list[Chunk]


def process_file(path: str, limits: Limits, max_tokens: int, overlap_tokens: int) -> Processed:
    """Read, sniff, extract and chunk the file at `path`. Raises `IngestionError`s."""
    data = Path(path).read_bytes()
    kind = sniff(data)
    extracted = extract(data, kind, limits=limits)
    chunks = chunk(extracted, max_tokens=max_tokens, overlap_tokens=overlap_tokens)
    return Processed(
        media_type=kind.media_type,
        text=extracted.text,
        title=extracted.title,
        meta=dict(extracted.meta),
        chunks=chunks,
    )


def sniff_file(path: str) -> str:
    """The sniffed kind of a stored file (run in a thread: it reads the file)."""
    return sniff(Path(path).read_bytes()).value
