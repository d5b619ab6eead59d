"""DOCX (python-docx) and PPTX (python-pptx), after the ZIP container passes safety checks.

Both formats are ZIP archives, so a hostile upload can be a zip bomb (a small file whose
members inflate to gigabytes), a member-count bomb, or carry odd member names (`../x`,
absolute paths, NUL bytes, duplicates that make two readers see different content). The
central directory states each member's sizes, and `zipfile` never inflates a member past its
stated size (it stops and fails its CRC check), so checking the stated sizes and ratios up
front bounds what the parsers can be made to allocate. XML inside is parsed by lxml with
entity resolution off (python-docx/pptx's own parser settings), so "billion laughs" is inert.

PPTX decision: a slide's blocks are its title (as a `#` heading), the text of its shapes
top-to-bottom then left-to-right (tables row by row, groups flattened), and its speaker
notes as a final "Notes:" block. Notes are kept because in lecture decks they often hold the
actual explanation; they carry the slide's number, so the chunker never separates them from
their slide. Slides without a title get "Slide N" as heading.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from typing import Any

from learningtool.ingestion.document import (
    Extracted,
    HeadingStack,
    Kind,
    Limits,
    TextBuilder,
    one_line,
    reading,
)
from learningtool.ingestion.errors import ExtractionError, LimitExceededError

RATIO_CHECK_MIN_BYTES = 1024 * 1024  # small XML parts compress well without being bombs
_HEADING_STYLE = re.compile(r"heading ([1-9])", re.I)


def check_zip(data: bytes, limits: Limits, what: str) -> None:
    """Refuse a ZIP whose central directory promises too much or names members oddly."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ExtractionError(
            f"{what} is damaged or truncated (not a valid ZIP container)."
        ) from exc
    if len(members) > limits.max_zip_members:
        raise LimitExceededError(
            f"{what} has {len(members):,} parts; the limit is {limits.max_zip_members:,}.",
            details={"limit": "max_zip_members", "value": limits.max_zip_members},
        )
    seen: set[str] = set()
    total = 0
    for member in members:
        name = member.filename
        parts = name.replace("\\", "/").split("/")
        if (
            not name
            or name.startswith(("/", "\\"))
            or re.match(r"^[A-Za-z]:", name)
            or ".." in parts
            or "\x00" in name
            or "\\" in name
            or name.lower() in seen
        ):
            raise ExtractionError(
                f"{what} contains a part with an invalid name; it was refused.",
                details={"member": name[:200]},
            )
        seen.add(name.lower())
        if name.lower().endswith(".xml") and member.file_size > limits.max_xml_bytes:
            raise LimitExceededError(
                f"{what} has a {member.file_size / 2**20:,.0f} MiB XML part; the limit is "
                f"{limits.max_xml_bytes / 2**20:,.0f} MiB (parsed, it takes about 15 times "
                "that in memory).",
                details={"limit": "max_xml_bytes", "value": limits.max_xml_bytes},
            )
        total += member.file_size
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > RATIO_CHECK_MIN_BYTES and ratio > limits.max_zip_ratio:
            raise _bomb(what, limits)
    if total > limits.max_zip_uncompressed_bytes:
        raise LimitExceededError(
            f"{what} unpacks to {total / 2**20:,.0f} MiB; the limit is "
            f"{limits.max_zip_uncompressed_bytes / 2**20:,.0f} MiB.",
            details={
                "limit": "max_zip_uncompressed_bytes",
                "value": limits.max_zip_uncompressed_bytes,
            },
        )
    if total > RATIO_CHECK_MIN_BYTES and total / max(len(data), 1) > limits.max_zip_ratio:
        raise _bomb(what, limits)


def _bomb(what: str, limits: Limits) -> LimitExceededError:
    return LimitExceededError(
        f"{what} is compressed more than {limits.max_zip_ratio:.0f}:1, like a zip bomb; "
        "it was refused.",
        details={"limit": "max_zip_ratio", "value": limits.max_zip_ratio},
    )


# -- DOCX -------------------------------------------------------------------------------------


def extract_docx(data: bytes, limits: Limits) -> Extracted:
    """Paragraphs and tables in document order; headings from the paragraph style (Title and
    Heading 1-9, including custom styles based on them); list paragraphs as `- ` items;
    table rows as cells joined with ` | `. Headers, footers and comments are left out."""
    check_zip(data, limits, "This Word document")
    from docx import Document
    from docx.table import Table

    builder = TextBuilder(limits)
    stack = HeadingStack()
    with reading("This Word document"):
        document = Document(io.BytesIO(data))
        title = document.core_properties.title
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                builder.add(_table_text(block), heading_path=stack.path)
                continue
            level = _heading_level(block.style)
            if level is not None:
                builder.heading(level, block.text, stack)
            elif _is_list_item(block):
                builder.add("- " + block.text, heading_path=stack.path)
            else:
                builder.add(block.text, heading_path=stack.path)
    return builder.build(Kind.DOCX, title=title)


def _heading_level(style: Any) -> int | None:
    for _ in range(8):  # follow "based on" a few steps; style chains are short
        if style is None:
            return None
        name = str(style.name or "")
        if name.lower() == "title":
            return 1
        match = _HEADING_STYLE.fullmatch(name)
        if match:
            return int(match.group(1))
        style = style.base_style
    return None


def _is_list_item(paragraph: Any) -> bool:
    properties = paragraph._p.pPr
    numbered = properties is not None and properties.numPr is not None
    return numbered or str(getattr(paragraph.style, "name", "")).startswith("List")


def _table_text(table: Any) -> str:
    rows = []
    for row in table.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            if cell._tc is previous:  # a merged cell repeats; keep it once
                continue
            previous = cell._tc
            cells.append(one_line(cell.text))
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)


# -- PPTX -------------------------------------------------------------------------------------


def extract_pptx(data: bytes, limits: Limits) -> Extracted:
    check_zip(data, limits, "This presentation")
    from pptx import Presentation

    builder = TextBuilder(limits)
    with reading("This presentation"):
        deck = Presentation(io.BytesIO(data))
        count = len(deck.slides)
        if count > limits.max_pages:
            raise LimitExceededError(
                f"This presentation has {count:,} slides; the limit is {limits.max_pages:,}.",
                details={"limit": "max_pages", "value": limits.max_pages},
            )
        for number, slide in enumerate(deck.slides, start=1):
            title_shape = slide.shapes.title
            title = one_line(title_shape.text_frame.text) if title_shape is not None else ""
            stack = HeadingStack()
            builder.heading(1, title or f"Slide {number}", stack, slide=number)
            path = stack.path
            for shape in _shapes_in_reading_order(slide.shapes):
                if title_shape is not None and shape.shape_id == title_shape.shape_id:
                    continue
                builder.add(_shape_text(shape), slide=number, heading_path=path)
            if slide.has_notes_slide:
                frame = slide.notes_slide.notes_text_frame
                if frame is not None and frame.text.strip():
                    builder.add(
                        "Notes: " + frame.text, role="notes", slide=number, heading_path=path
                    )
        title = deck.core_properties.title
    return builder.build(Kind.PPTX, title=title, slides=count)


def _shapes_in_reading_order(shapes: Any, depth: int = 0) -> Iterator[Any]:
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    if depth > 8:
        return
    ordered = sorted(shapes, key=lambda shape: (shape.top or 0, shape.left or 0))
    for shape in ordered:
        if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
            yield from _shapes_in_reading_order(shape.shapes, depth + 1)
        else:
            yield shape


def _shape_text(shape: Any) -> str:
    if getattr(shape, "has_table", False) and shape.has_table:
        return _table_text(shape.table)
    if not getattr(shape, "has_text_frame", False) or not shape.has_text_frame:
        return ""
    lines = []
    for paragraph in shape.text_frame.paragraphs:
        text = paragraph.text.strip()
        if text:
            lines.append("  " * min(paragraph.level, 8) + text)
    return "\n".join(lines)
