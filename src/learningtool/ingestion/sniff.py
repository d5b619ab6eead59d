"""Decide a file's type from its bytes alone.

A client's filename and Content-Type are claims, not facts: trusting them would hand a ZIP
to the PDF parser or an executable to the image decoder. So the type comes from magic numbers
and, where one container serves several formats (ZIP for DOCX/PPTX/XLSX, RIFF for WAV/WebP,
ISO-BMFF for M4A/MP4), from the container's structure. Text is accepted only as UTF-8
(or UTF-16 with a byte order mark), except HTML, which declares its own charset.
"""

from __future__ import annotations

import io
import re
import zipfile

from learningtool.ingestion.document import Kind
from learningtool.ingestion.errors import UnsupportedTypeError

SUPPORTED = (
    "PDF",
    "Word (.docx)",
    "PowerPoint (.pptx)",
    "images (PNG, JPEG, WebP, TIFF)",
    "audio (WAV, MP3, OGG, FLAC, M4A)",
    "HTML",
    "Markdown",
    "plain text (UTF-8)",
)

_M4A_BRANDS = {b"M4A ", b"M4B ", b"mp41", b"mp42", b"isom", b"iso2", b"dash", b"3gp4", b"3gp5"}
_HTML_START = re.compile(
    rb"^(?:\s|<!--.*?-->|<\?xml[^>]*>)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S
)
_HTML_TAG = re.compile(
    rb"<(?:html|head|body|div|p|article|main|section|h[1-6]|table|ul|ol|"
    rb"title|meta|span|a)\b[^>]*>",
    re.I,
)
_MD_FEATURES = {
    "heading": re.compile(r"^#{1,6}[ \t]+\S", re.M),
    "setext": re.compile(r"^\S.*\n(?:=+|-{2,})[ \t]*$", re.M),
    "fence": re.compile(r"^(?:```|~~~)", re.M),
    "list": re.compile(r"^[ \t]*(?:[-*+]|\d{1,3}[.)])[ \t]+\S", re.M),
    # bounded repeats: these run on up to 200 KB of untrusted text, so no quadratic scans
    "link": re.compile(r"!?\[[^\]\n]{1,300}\]\([^)\s]{1,2000}\)"),
    "emphasis": re.compile(r"(\*\*|__)\S[^\n]{0,300}?\S\1|`[^`\n]{1,300}`"),
    "quote": re.compile(r"^>[ \t]?\S", re.M),
    "table": re.compile(r"^\|.*\|[ \t]*\n\|[ :\-|]+\|[ \t]*$", re.M),
}


def unsupported(reason: str) -> UnsupportedTypeError:
    return UnsupportedTypeError(
        f"{reason} Supported types: {', '.join(SUPPORTED)}.",
        details={"supported": list(SUPPORTED)},
    )


def sniff(data: bytes) -> Kind:
    """The `Kind` of `data`, or `UnsupportedTypeError` naming the supported types."""
    if not data:
        raise unsupported("The file is empty.")
    head = data[:64]
    pdf_at = data.find(b"%PDF-", 0, 1024)
    if pdf_at == 0 or (pdf_at > 0 and (not data[:pdf_at].strip() or b"\x00" in data[:pdf_at])):
        return Kind.PDF  # PDF readers accept a little leading junk, but not a text preamble
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _sniff_zip(data)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Kind.PNG
    if head.startswith(b"\xff\xd8\xff"):
        return Kind.JPEG
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return Kind.WEBP
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return Kind.WAV
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return Kind.TIFF
    if head.startswith(b"OggS"):
        return Kind.OGG
    if head.startswith(b"fLaC"):
        return Kind.FLAC
    if head[4:8] == b"ftyp" and (head[8:12] in _M4A_BRANDS or b"M4A " in head[16:64]):
        return Kind.M4A
    if head.startswith(b"ID3") or _is_mp3_frame(head):
        return Kind.MP3
    return _sniff_text(data)


def _sniff_zip(data: bytes) -> Kind:
    """DOCX and PPTX are ZIPs with `[Content_Types].xml` and a `word/` or `ppt/` main part.
    Only the central directory is read here; the size checks come before parsing."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise unsupported("The file starts like a ZIP archive but is damaged.") from exc
    if "[Content_Types].xml" in names:
        if "word/document.xml" in names:
            return Kind.DOCX
        if "ppt/presentation.xml" in names:
            return Kind.PPTX
        if "xl/workbook.xml" in names:
            raise unsupported("Spreadsheets (.xlsx) are not supported.")
    raise unsupported("This ZIP archive is not a Word or PowerPoint document.")


def _is_mp3_frame(head: bytes) -> bool:
    """An MPEG audio layer III frame header: sync bits, a valid version, bitrate and rate."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 0b11, (head[1] >> 1) & 0b11
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 0b11
    return version != 0b01 and layer == 0b01 and bitrate not in (0, 0xF) and rate != 0b11


def _sniff_text(data: bytes) -> Kind:
    if _HTML_START.match(data[:4096]) or (
        data.lstrip()[:1] == b"<" and len(_HTML_TAG.findall(data[:4096])) >= 2
    ):
        return Kind.HTML
    text = decode_text(data)
    if text is None:
        raise unsupported("The file's type was not recognised (binary data or not UTF-8 text).")
    return Kind.MARKDOWN if looks_like_markdown(text) else Kind.TEXT


def decode_text(data: bytes) -> str | None:
    """UTF-8 (BOM optional) or BOM-marked UTF-16 text with almost no control characters."""
    encoding = "utf-16" if data.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        return None
    sample = text[:100_000]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\n\r\t\f")
    if "\x00" in sample or controls > len(sample) // 100:
        return None
    return text


def looks_like_markdown(text: str) -> bool:
    """Markdown if it has an ATX heading or a code fence, or two different kinds of Markdown
    syntax (lists, links, emphasis, quotes, tables, setext headings). Plain text with a dash
    list alone stays plain text."""
    sample = text[:200_000]
    found = {name for name, pattern in _MD_FEATURES.items() if pattern.search(sample)}
    return bool(found & {"heading", "fence", "table"}) or len(found) >= 2
