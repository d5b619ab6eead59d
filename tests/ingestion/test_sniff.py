"""Types come from bytes: magic numbers, container structure, text heuristics."""

from __future__ import annotations

import io
import zipfile

import pytest

from learningtool.ingestion import SUPPORTED, Kind, UnsupportedTypeError, sniff
from learningtool.ingestion.sniff import looks_like_markdown
from tests.ingestion import builders


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"%PDF-1.7\n...", Kind.PDF),
        (b"\n\n%PDF-1.4\n...", Kind.PDF),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", Kind.PNG),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", Kind.JPEG),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", Kind.WEBP),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", Kind.WAV),
        (b"II*\x00\x08\x00\x00\x00", Kind.TIFF),
        (b"MM\x00*\x00\x00\x00\x08", Kind.TIFF),
        (b"OggS\x00\x02" + b"\x00" * 20, Kind.OGG),
        (b"fLaC\x00\x00\x00\x22", Kind.FLAC),
        (b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00", Kind.M4A),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00", Kind.MP3),
        (b"\xff\xfb\x90\x64\x00\x00", Kind.MP3),
        (b"<!DOCTYPE html><html><body>x</body></html>", Kind.HTML),
        (b"  <!-- c --><html lang=en><p>x</p>", Kind.HTML),
        (b"<div><p>fragment</p><p>of html</p></div>", Kind.HTML),
        (b"# Title\n\nText.", Kind.MARKDOWN),
        ("Just a note, with ünïcode.\n".encode(), Kind.TEXT),
        ("\ufeffBOM text".encode(), Kind.TEXT),
        ("UTF-16 text".encode("utf-16"), Kind.TEXT),
    ],
)
def test_magic_numbers(data: bytes, kind: Kind) -> None:
    assert sniff(data) is kind


def test_office_files_are_told_apart_by_their_parts() -> None:
    assert sniff(builders.docx_bytes()) is Kind.DOCX
    assert sniff(builders.pptx_bytes()) is Kind.PPTX
    with pytest.raises(UnsupportedTypeError, match="Spreadsheets"):
        sniff(_zip({"[Content_Types].xml": b"<x/>", "xl/workbook.xml": b"<x/>"}))
    with pytest.raises(UnsupportedTypeError, match="not a Word or PowerPoint"):
        sniff(_zip({"word/document.xml": b"<x/>"}))  # no [Content_Types].xml


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)),
        b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64,
        "caf\xe9 in Latin-1, not UTF-8".encode("latin-1"),
        b"GIF89a\x01\x00\x01\x00",
        b"PK\x03\x04 truncated zip",
        b"text with %PDF-1.4 inside is not a PDF",
    ],
)
def test_unsupported_is_typed_and_lists_what_is_supported(data: bytes) -> None:
    if data.startswith(b"text with"):
        assert sniff(data) is Kind.TEXT
        return
    with pytest.raises(UnsupportedTypeError) as caught:
        sniff(data)
    assert caught.value.code == "unsupported_type"
    assert caught.value.status_code == 415
    assert caught.value.details["supported"] == list(SUPPORTED)
    assert "Supported types: PDF" in caught.value.message


def test_misleading_name_is_irrelevant() -> None:
    """There is no filename parameter at all: a PNG 'called' notes.pdf is a PNG."""
    png = builders.png_bytes(builders.text_image(["x"]))
    assert sniff(png) is Kind.PNG


@pytest.mark.parametrize(
    ("text", "markdown"),
    [
        ("# Heading\nbody", True),
        ("```\ncode\n```", True),
        ("| a | b |\n|---|---|\n| 1 | 2 |", True),
        ("See [the docs](https://example.org) and **this**.", True),
        ("Title\n=====\n\n- item one\n- item two", True),
        ("Shopping:\n- milk\n- eggs", False),
        ("Dear Ann,\n\nthe meeting is at 5 p.m. #hashtag\n\nBest, Bo", False),
        ("Version 2.0 - released\n1999 was a year.", False),
    ],
)
def test_markdown_or_plain_text(text: str, markdown: bool) -> None:
    assert looks_like_markdown(text) is markdown
