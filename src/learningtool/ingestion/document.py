"""The shapes every extractor produces, and the small tools they share to produce them.

An extractor emits *blocks* (a heading, a paragraph, a table, a slide's notes, one ASR
segment) through `TextBuilder`, which joins them into one text and records each block as a
`Segment` with exact character offsets and its provenance. Offsets are Python `str` indices
(code points), so `text[segment.start:segment.end]` is the block, always; the chunker and
every citation rely on that single invariant.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from learningtool.ingestion.errors import ExtractionError, IngestionError, LimitExceededError


class Kind(StrEnum):
    """A supported input type, as decided from the bytes by `sniff`."""

    PDF = "pdf"
    DOCX = "docx"
    PPTX = "pptx"
    PNG = "png"
    JPEG = "jpeg"
    WEBP = "webp"
    TIFF = "tiff"
    WAV = "wav"
    MP3 = "mp3"
    OGG = "ogg"
    FLAC = "flac"
    M4A = "m4a"
    HTML = "html"
    MARKDOWN = "markdown"
    TEXT = "text"

    @property
    def media_type(self) -> str:
        return _MEDIA_TYPES[self]

    @property
    def is_image(self) -> bool:
        return self in (Kind.PNG, Kind.JPEG, Kind.WEBP, Kind.TIFF)

    @property
    def is_audio(self) -> bool:
        return self in (Kind.WAV, Kind.MP3, Kind.OGG, Kind.FLAC, Kind.M4A)


_MEDIA_TYPES = {
    Kind.PDF: "application/pdf",
    Kind.DOCX: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    Kind.PPTX: "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    Kind.PNG: "image/png",
    Kind.JPEG: "image/jpeg",
    Kind.WEBP: "image/webp",
    Kind.TIFF: "image/tiff",
    Kind.WAV: "audio/wav",
    Kind.MP3: "audio/mpeg",
    Kind.OGG: "audio/ogg",
    Kind.FLAC: "audio/flac",
    Kind.M4A: "audio/mp4",
    Kind.HTML: "text/html",
    Kind.MARKDOWN: "text/markdown",
    Kind.TEXT: "text/plain",
}


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource caps enforced inside extraction, where the hostile bytes are parsed.

    Defaults suit a single-user service on a small machine; the caller may pass tighter ones.
    The caller must still run extraction in a separate process with a wall-clock timeout:
    no cap here can interrupt a parser that loops inside C code.
    """

    max_input_bytes: int = 200 * 1024 * 1024
    max_pages: int = 2_000  # PDF pages, slides, TIFF frames
    max_ocr_pages: int = 200  # OCR costs seconds per page; later pages are skipped, with a warning
    max_text_chars: int = 20_000_000
    max_zip_members: int = 5_000
    max_zip_uncompressed_bytes: int = 512 * 1024 * 1024
    max_xml_bytes: int = 64 * 1024 * 1024  # one XML part of a DOCX/PPTX, unpacked
    max_zip_ratio: float = 100.0  # per member of more than 1 MiB, and for the whole archive
    max_image_pixels: int = 50_000_000  # one image; larger refuses the document
    max_page_pixels: int = 50_000_000  # a page's images for OCR; more skips the page
    max_ocr_pixels: int = 2_000_000_000  # all OCR'd images (200 pages at 300 dpi is ~1.7e9)
    max_audio_seconds: float = 3 * 3600.0


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Segment:
    """One block of the extracted text and where it came from.

    `role` is "heading", "body" or "notes" (PPTX speaker notes); `heading_path` holds the
    titles of the enclosing headings, outermost first, including the block itself when it
    is a heading. Pages and slides count from 1; audio times are seconds.
    """

    start: int
    end: int
    role: str = "body"
    page: int | None = None
    slide: int | None = None
    heading_path: tuple[str, ...] = ()
    audio_start: float | None = None
    audio_end: float | None = None


@dataclass(frozen=True, slots=True)
class Extracted:
    """Full text (blocks separated by blank lines, headings as Markdown `#` lines), its
    segments in text order, a title when the file declares one, and `meta` facts such as
    `pages`, `ocr_pages` and `warnings` (things skipped, said in words a learner can read)."""

    kind: Kind
    text: str
    segments: tuple[Segment, ...]
    title: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def slice(self, segment: Segment) -> str:
        return self.text[segment.start : segment.end]


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\ufeff\ufffe\uffff]")
_TRAILING_SPACE = re.compile(r"[ \t\u00a0]+\n")
_MANY_BLANK_LINES = re.compile(r"\n{3,}")


def clean_text(text: str) -> str:
    """NFC, `\\n` newlines, no control characters or trailing spaces, at most one blank line
    in a row, no outer whitespace. Every block goes through this, so separators between
    blocks are the only "\\n\\n" the builder adds itself."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROL.sub("", text).replace("\u2028", "\n").replace("\u2029", "\n\n")
    text = _TRAILING_SPACE.sub("\n", text)
    return _MANY_BLANK_LINES.sub("\n\n", text).strip()


def one_line(text: str) -> str:
    """A heading or title: whitespace collapsed to single spaces."""
    return " ".join(clean_text(text).split())


class HeadingStack:
    """The path of open headings: a heading of level N closes every heading of level >= N."""

    def __init__(self) -> None:
        self._open: list[tuple[int, str]] = []

    def push(self, level: int, title: str) -> tuple[str, ...]:
        while self._open and self._open[-1][0] >= level:
            self._open.pop()
        self._open.append((level, title))
        return self.path

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(title for _, title in self._open)


class TextBuilder:
    """Accumulates blocks into one text, recording a `Segment` per block."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self._parts: list[str] = []
        self._length = 0
        self._segments: list[Segment] = []
        self._limits = limits

    def add(
        self,
        text: str,
        *,
        separator: str = "\n\n",
        role: str = "body",
        page: int | None = None,
        slide: int | None = None,
        heading_path: tuple[str, ...] = (),
        audio_start: float | None = None,
        audio_end: float | None = None,
    ) -> Segment | None:
        """Append one block (cleaned; skipped when empty), preceded by `separator` unless it
        is the first block."""
        block = clean_text(text)
        if not block:
            return None
        if self._parts:
            self._parts.append(separator)
            self._length += len(separator)
        start = self._length
        self._parts.append(block)
        self._length += len(block)
        if self._length > self._limits.max_text_chars:
            raise LimitExceededError(
                f"The extracted text is longer than {self._limits.max_text_chars:,} characters.",
                details={"limit": "max_text_chars", "value": self._limits.max_text_chars},
            )
        segment = Segment(
            start=start,
            end=self._length,
            role=role,
            page=page,
            slide=slide,
            heading_path=heading_path,
            audio_start=audio_start,
            audio_end=audio_end,
        )
        self._segments.append(segment)
        return segment

    def heading(self, level: int, title: str, stack: HeadingStack, **provenance: Any) -> None:
        """A Markdown heading line (`#` x level), which opens `title` in `stack`."""
        title = one_line(title)
        if title:
            path = stack.push(level, title)
            self.add(
                f"{'#' * min(max(level, 1), 6)} {title}",
                role="heading",
                heading_path=path,
                **provenance,
            )

    @property
    def empty(self) -> bool:
        return not self._parts

    def build(self, kind: Kind, *, title: str | None = None, **meta: Any) -> Extracted:
        title = one_line(title) if title else None
        return Extracted(kind, "".join(self._parts), tuple(self._segments), title or None, meta)


@contextmanager
def reading(what: str) -> Iterator[None]:
    """Turn any failure of a parsing library into an `ExtractionError` whose message names the
    document (`what`), never the library's own text. Our own errors pass through."""
    try:
        yield
    except IngestionError:
        raise
    except MemoryError as exc:
        raise LimitExceededError(
            f"{what} needs more memory to read than this server allows.",
            details={"limit": "memory", "reason": type(exc).__name__},
        ) from exc
    except RecursionError as exc:
        raise ExtractionError(
            f"{what} is nested too deeply to read.", details={"reason": type(exc).__name__}
        ) from exc
    except Exception as exc:
        raise ExtractionError(
            f"{what} is damaged, truncated or not valid, and could not be read.",
            details={"reason": type(exc).__name__},
        ) from exc
