"""PDF: the text layer of each page with pypdf; pages without one go to OCR.

Why pypdf: on this machine it extracted the same text as PyMuPDF and pypdfium2 from real
documents (two Debian manuals) and from a generated 100-page PDF; PyMuPDF is 10-15x faster
(about 1,500 vs 100 pages/s on real pages), but it is AGPL, which a network service under MIT
cannot take lightly, and 100 pages/s is far from the bottleneck (OCR takes seconds per page,
embedding more than parsing). pypdf is BSD-3, pure Python, and caps its own stream
decompression (75 MB per stream), which helps against PDF "bombs".

pypdf cannot render a page, so a page without a text layer is OCRed from the images it
places; scans are one image per page, which covers them. Vector-drawn text without a text
layer (rare) stays unread: rendering would need pypdfium2 (BSD/Apache) - the upgrade path.
"""

from __future__ import annotations

import bisect
import io
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from learningtool.ingestion.document import (
    Extracted,
    Kind,
    Limits,
    TextBuilder,
    clean_text,
    one_line,
    reading,
)
from learningtool.ingestion.errors import (
    ExtractionError,
    FeatureUnavailableError,
    LimitExceededError,
)

if TYPE_CHECKING:
    from PIL import Image

    from learningtool.ingestion.ocr import OcrFn

MIN_TEXT_CHARS = 20  # fewer non-space characters on a page with images: treat it as a scan
MAX_IMAGES_PER_PAGE = 8
MIN_IMAGE_PIXELS = 20_000  # smaller images are logos and rules, not scanned text
_BULLET = re.compile(r"^\s*(?:[•●▪◦‣∙·*\u2013-]|\d{1,3}[.)]|[a-z][.)])\s")


def extract_pdf(data: bytes, limits: Limits, ocr: OcrFn | None) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError

    if b"%%EOF" not in data[-2048:]:
        raise ExtractionError("This PDF is truncated: its end is missing. Upload it again.")
    with reading("This PDF"):
        try:
            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted and not reader.decrypt(""):
                raise ExtractionError(
                    "This PDF is password-protected. Upload a copy without a password."
                )
            count = len(reader.pages)
        except LimitReachedError as exc:
            raise _too_big("This PDF") from exc
    if count > limits.max_pages:
        raise LimitExceededError(
            f"This PDF has {count:,} pages; the limit is {limits.max_pages:,}.",
            details={"limit": "max_pages", "value": limits.max_pages},
        )

    outline = _outline(reader)
    outline_pages = [page for page, _ in outline]
    builder = TextBuilder(limits)
    scans = _Scans()
    warnings = scans.warnings
    failed = 0
    for index in range(count):
        number = index + 1
        found = bisect.bisect_right(outline_pages, index)
        path = outline[found - 1][1] if found else ()
        try:
            with reading(f"Page {number} of this PDF"):
                try:
                    page = reader.pages[index]
                    blocks = paragraphs(page.extract_text() or "")
                    if sum(len("".join(b.split())) for b in blocks) < MIN_TEXT_CHARS:
                        blocks = _ocr_page(page, number, ocr, limits, scans) or blocks
                except LimitReachedError as exc:
                    raise _too_big(f"Page {number} of this PDF") from exc
        except (LimitExceededError, FeatureUnavailableError):
            raise
        except ExtractionError as exc:
            failed += 1
            warnings.append(exc.message)
            continue
        for block in blocks:
            builder.add(block, page=number, heading_path=path)
    if count and failed == count:
        raise ExtractionError("No page of this PDF could be read: it is damaged.")
    return builder.build(
        Kind.PDF, title=_title(reader), pages=count, ocr_pages=scans.pages, warnings=warnings
    )


def _too_big(what: str) -> LimitExceededError:
    return LimitExceededError(
        f"{what} contains a stream that decompresses to more than this server allows.",
        details={"limit": "pdf_stream"},
    )


@dataclass
class _Scans:
    """What OCR has done in this document so far, against its per-document budgets."""

    pages: list[int] = field(default_factory=list)
    pixels: int = 0
    warnings: list[str] = field(default_factory=list)


def _ocr_page(
    page: Any, number: int, ocr: OcrFn | None, limits: Limits, scans: _Scans
) -> list[str]:
    """OCR of a page without a text layer. Every budget is checked on the images' declared
    sizes before any is decoded (decoding is what costs memory: eight 7000x7000 images on one
    page took a worker to 3 GB), and images are decoded one at a time."""
    keys = _text_image_keys(page, limits)
    if not keys:
        return []
    if ocr is None:
        scans.warnings.append(
            f"Page {number} is a scanned image and OCR is not installed: skipped."
        )
        return []
    if len(scans.pages) >= limits.max_ocr_pages:
        scans.warnings.append(
            f"Page {number} is a scanned image beyond the OCR limit of "
            f"{limits.max_ocr_pages} pages: skipped."
        )
        return []
    pixels = sum(width * height for _, width, height in keys)
    if pixels > limits.max_page_pixels or scans.pixels + pixels > limits.max_ocr_pixels:
        budget = "page" if pixels > limits.max_page_pixels else "document"
        scans.warnings.append(
            f"Page {number} holds {pixels / 1e6:,.0f} megapixels of images, beyond what OCR "
            f"reads per {budget}: skipped."
        )
        return []
    scans.pages.append(number)
    scans.pixels += pixels
    blocks: list[str] = []
    for key, _, _ in keys:
        image = _decode(page, key, limits)
        if image is not None:
            blocks.extend(ocr(image))
    return blocks


def paragraphs(text: str) -> list[str]:
    """Paragraphs of a page's text layer. pypdf gives lines, not paragraphs, so besides blank
    lines a paragraph ends after a line much shorter than the page's usual line (a paragraph's
    last line, a heading) and before a bulleted or numbered line."""
    lines = clean_text(text).split("\n")
    widths = sorted(len(line) for line in lines if line.strip())
    typical = widths[int(len(widths) * 0.8)] if len(widths) >= 5 else 0
    blocks: list[str] = []
    current: list[str] = []
    for line in lines:
        if not line.strip() or (current and _BULLET.match(line)):
            blocks.append("\n".join(current))
            current = []
        if not line.strip():
            continue
        current.append(line)
        if typical and len(line) < 0.7 * typical and not line.endswith("-"):
            blocks.append("\n".join(current))
            current = []
    blocks.append("\n".join(current))
    return [block for block in blocks if block.strip()]


def _text_image_keys(page: Any, limits: Limits) -> list[tuple[Any, int, int]]:
    """The page's images that may hold text, with their declared sizes, read from the image
    dictionaries without decoding a stream. An inline image declares no size (0x0): it is
    tiny by design and taken."""
    keys: list[tuple[Any, int, int]] = []
    for key in list(page.images.keys())[:MAX_IMAGES_PER_PAGE]:
        width, height = _declared_size(page, key)
        if width * height > limits.max_image_pixels:
            raise _image_too_big(width, height, limits)
        if width * height == 0 or width * height >= MIN_IMAGE_PIXELS:
            keys.append((key, width, height))
    return keys


def _decode(page: Any, key: Any, limits: Limits) -> Image.Image | None:
    """One image as RGB, or None when it is too small to hold text; the decoded size is
    checked again (a declared size can lie)."""
    image = page.images[key].image
    if image is None:
        return None
    if image.width * image.height > limits.max_image_pixels:
        raise _image_too_big(image.width, image.height, limits)
    if image.width * image.height < MIN_IMAGE_PIXELS:
        return None
    rgb: Image.Image = image.convert("RGB")
    return rgb


def _image_too_big(width: int, height: int, limits: Limits) -> LimitExceededError:
    return LimitExceededError(
        f"This PDF contains a {width:,}x{height:,} pixel image; the limit is "
        f"{limits.max_image_pixels:,} pixels.",
        details={"limit": "max_image_pixels", "value": limits.max_image_pixels},
    )


def _declared_size(page: Any, key: str | list[str]) -> tuple[int, int]:
    """/Width and /Height of an image XObject (nested forms are a list of names), read from
    its dictionary without decoding the stream. Inline images (`~n~`) are tiny by design and
    already parsed with the content stream: (0, 0)."""
    names = [key] if isinstance(key, str) else list(key)
    if names[0].startswith("~"):
        return 0, 0
    holder = page
    for name in names:
        xobject = holder["/Resources"].get_object()["/XObject"].get_object()[name].get_object()
        holder = xobject
    return int(holder.get("/Width", 0)), int(holder.get("/Height", 0))


def _outline(reader: Any) -> list[tuple[int, tuple[str, ...]]]:
    """(page index, heading path) of each bookmark, sorted by page: a page's heading path is
    that of the last bookmark at or before it. Bookmarks are optional, so any failure to read
    them just means no headings."""
    entries: list[tuple[int, tuple[str, ...]]] = []

    def walk(items: list[Any], parents: tuple[str, ...], depth: int) -> None:
        path = parents
        for item in items:
            if len(entries) >= 10_000 or depth > 16:
                return
            if isinstance(item, list):
                walk(item, path, depth + 1)
                continue
            path = (*parents, one_line(str(item.title or "")))
            page = reader.get_destination_page_number(item)
            if page is not None and page >= 0:
                entries.append((page, path))

    try:
        walk(reader.outline, (), 0)
    except Exception:
        return []
    return sorted(entries, key=lambda entry: entry[0])


def _title(reader: Any) -> str | None:
    try:
        title = reader.metadata.title if reader.metadata else None
    except Exception:
        return None
    return title if isinstance(title, str) and title.strip() else None
