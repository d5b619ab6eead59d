"""Each supported format: the right text, exact offsets and the right provenance.

OCR and ASR are replaced by fakes here so these tests stay fast and model-free; the real
engines are exercised in `test_models.py` (marked slow)."""

from __future__ import annotations

import pytest
from PIL import Image

from learningtool.ingestion import (
    Kind,
    NoTextError,
    extract,
    sniff,
)
from learningtool.ingestion.asr import AsrSegment
from learningtool.ingestion.pdf import paragraphs
from tests.ingestion import builders
from tests.ingestion.invariants import extract_checked


def fake_ocr(image: Image.Image) -> list[str]:
    assert image.mode == "RGB"
    return [f"ocr text of a {image.width}x{image.height} image", "second ocr paragraph"]


def test_pdf_pages_and_text() -> None:
    data = builders.pdf_bytes(
        [
            ["Photosynthesis", "", "Plants turn light into sugar.", "Chlorophyll is green."],
            ["Respiration", "", "Cells burn sugar to make ATP."],
            ["Decomposition returns nutrients to the soil."],
        ],
        title="Biology",
    )
    assert sniff(data) is Kind.PDF
    extracted = extract(data, Kind.PDF, ocr=None)
    assert extracted.title == "Biology"
    assert extracted.meta["pages"] == 3
    chunks = extract_checked(extracted)
    pages = {s.page for s in extracted.segments}
    assert pages == {1, 2, 3}
    by_page = {c.page: c.text for c in chunks}
    assert "Chlorophyll is green." in by_page[1]
    assert "ATP" in by_page[2]
    assert "Decomposition" in by_page[3]
    assert [c.page for c in chunks] == sorted(c.page or 0 for c in chunks)


def test_pdf_bookmarks_give_heading_paths() -> None:
    import io

    from pypdf import PdfWriter

    pages = [["Intro text."], ["Chapter one begins."], ["More of one."], ["Chapter two."]]
    writer = PdfWriter(clone_from=io.BytesIO(builders.pdf_bytes(pages)))
    writer.add_outline_item(title="Introduction", page_number=0)
    one = writer.add_outline_item(title="Chapter 1", page_number=1)
    writer.add_outline_item(title="Section 1.1", page_number=2, parent=one)
    writer.add_outline_item(title="Chapter 2", page_number=3)
    out = io.BytesIO()
    writer.write(out)
    chunks = extract_checked(extract(out.getvalue(), Kind.PDF, ocr=None))
    assert [(c.page, c.heading_path) for c in chunks] == [
        (1, ("Introduction",)),
        (2, ("Chapter 1",)),
        (3, ("Chapter 1", "Section 1.1")),
        (4, ("Chapter 2",)),
    ]


def test_pdf_page_without_text_layer_goes_to_ocr() -> None:
    scan = builders.text_image(["Mitochondria produce energy."])
    data = builders.pdf_bytes([["A page with a real text layer on it."], scan])
    extracted = extract(data, Kind.PDF, ocr=fake_ocr)
    assert extracted.meta["ocr_pages"] == [2]
    extract_checked(extracted)
    ocr_blocks = [extracted.slice(s) for s in extracted.segments if s.page == 2]
    assert ocr_blocks == [f"ocr text of a {scan.width}x{scan.height} image", "second ocr paragraph"]


def test_scanned_pdf_without_ocr_is_no_text_with_reason() -> None:
    data = builders.pdf_bytes([builders.text_image(["Only pixels here."])])
    with pytest.raises(NoTextError) as caught:
        extract(data, Kind.PDF, ocr=None)
    assert "OCR is not installed" in caught.value.details["warnings"][0]


def test_pdf_paragraph_heuristic() -> None:
    long = "x" * 70
    bullet = f"• {long}"
    text = "\n".join(["Heading line", long, long, "short end.", long, long, bullet, long, "end"])
    assert paragraphs(text) == [
        "Heading line",
        f"{long}\n{long}\nshort end.",
        f"{long}\n{long}",
        f"{bullet}\n{long}\nend",
    ]


def test_docx_headings_lists_tables() -> None:
    data = builders.docx_bytes()
    assert sniff(data) is Kind.DOCX
    extracted = extract(data, Kind.DOCX)
    assert extracted.title == "Cell Biology Notes"
    chunks = extract_checked(extracted)
    assert "# Cell Biology\n\nCells are the basic unit of life." in extracted.text
    assert "## Mitochondria" in extracted.text
    assert "- They have their own DNA." in extracted.text
    assert "Ribosome | Protein synthesis" in extracted.text
    paths = {c.heading_path for c in chunks}
    assert paths == {
        ("Cell Biology",),
        ("Cell Biology", "Mitochondria"),
        ("Cell Biology", "Chloroplasts"),
        ("Genetics",),
    }
    table_chunk = next(c for c in chunks if "Ribosome" in c.text)
    assert table_chunk.heading_path == ("Cell Biology", "Chloroplasts")


def test_pptx_one_heading_per_slide_and_notes_kept() -> None:
    data = builders.pptx_bytes()
    assert sniff(data) is Kind.PPTX
    extracted = extract(data, Kind.PPTX)
    assert extracted.meta["slides"] == 3
    chunks = extract_checked(extracted)
    assert [c.slide for c in chunks] == [1, 2, 3]
    assert chunks[0].heading_path == ("Plate Tectonics",)
    assert chunks[1].text.startswith("# Earthquakes")
    assert "The Richter scale measures magnitude." in chunks[1].text
    assert "Notes: Mention the 1906 San Francisco earthquake." in chunks[1].text
    assert chunks[2].heading_path == ("Slide 3",)
    assert "Volcanoes form at subduction zones." in chunks[2].text
    notes = [s for s in extracted.segments if s.role == "notes"]
    assert [s.slide for s in notes] == [2]


def test_html_main_text_without_navigation_or_scripts() -> None:
    assert sniff(builders.HTML_PAGE) is Kind.HTML
    extracted = extract(builders.HTML_PAGE, Kind.HTML)
    assert extracted.title == "Volcano Guide"
    text = extracted.text
    for noise in (
        "trackingScriptNoise",
        "secretstyle",
        "Navigation Alpha",
        "Shop",
        "Sidebar",
        "Copyright",
        "more script noise",
    ):
        assert noise not in text
    assert "A volcano is an opening in the crust where magma escapes." in text
    assert "- Stratovolcanoes are steep." in text
    assert "Etna | Italy" in text
    chunks = extract_checked(extracted)
    hazards = next(c for c in chunks if "Pyroclastic" in c.text)
    assert hazards.heading_path == ("Volcanoes", "Hazards")


def test_html_without_main_drops_page_chrome_and_link_menus() -> None:
    page = (
        b"<html><body><header><h1>Site name</h1></header>"
        b"<ul><li><a href=/1>One</a></li><li><a href=/2>Two</a></li></ul>"
        b"<div hidden>secret</div><p>Body text\nacross lines<br>after a break.</p>"
        b"<footer>foot</footer></body></html>"
    )
    extracted = extract(page, sniff(page))
    assert extracted.text == "Body text across lines\nafter a break."


def test_html_charset_from_meta() -> None:
    page = '<html><head><meta charset="windows-1252"></head><body><p>Café au lait</p></body>'
    extracted = extract(page.encode("cp1252"), Kind.HTML)
    assert extracted.text == "Café au lait"


def test_markdown_headings_and_code_fences() -> None:
    data = builders.MARKDOWN_DOC.encode()
    assert sniff(data) is Kind.MARKDOWN
    extracted = extract(data, Kind.MARKDOWN)
    assert extracted.title == "Astronomy"
    assert "Front matter" not in extracted.text
    assert '# not a heading: inside a code fence\nprint("sun")' in extracted.text
    chunks = extract_checked(extracted)
    by_path = {c.heading_path: c.text for c in chunks}
    assert "eight minutes" in by_path[("Astronomy", "The Sun")]
    assert "code fence" in by_path[("Astronomy", "The Sun")]
    assert "largest planet" in by_path[("Astronomy", "Planets", "Jupiter")]


def test_markdown_setext_headings_become_atx() -> None:
    extracted = extract(b"Title\n=====\n\nSome text.\n\nPart\n----\n\nMore.\n", Kind.MARKDOWN)
    assert extracted.text == "# Title\n\nSome text.\n\n## Part\n\nMore."
    assert extracted.segments[-1].heading_path == ("Title", "Part")


def test_plain_text_paragraphs() -> None:
    second = "Second \u2013 with ünïcödé."
    data = f"First paragraph\nstill first.\r\n\r\n{second}\n\n\n\nThird.".encode()
    assert sniff(data) is Kind.TEXT
    extracted = extract(data, Kind.TEXT)
    assert extracted.text == f"First paragraph\nstill first.\n\n{second}\n\nThird."
    assert len(extracted.segments) == 3
    extract_checked(extracted)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "TIFF"])
def test_images_go_to_ocr(fmt: str) -> None:
    import io

    out = io.BytesIO()
    builders.text_image(["Some words"]).save(out, format=fmt)
    data = out.getvalue()
    kind = sniff(data)
    assert kind.value == fmt.lower()
    extracted = extract(data, kind, ocr=fake_ocr)
    assert extracted.text.startswith("ocr text of a 1240x")
    extract_checked(extracted)


def test_multipage_tiff_pages() -> None:
    import io

    frames = [builders.text_image([f"Page {n}"]) for n in (1, 2)]
    out = io.BytesIO()
    frames[0].save(out, format="TIFF", save_all=True, append_images=frames[1:])
    extracted = extract(out.getvalue(), Kind.TIFF, ocr=fake_ocr)
    assert {s.page for s in extracted.segments} == {1, 2}
    extract_checked(extracted)


@pytest.mark.parametrize(
    ("container", "codec", "kind"),
    [
        (None, None, Kind.WAV),
        ("mp3", "libmp3lame", Kind.MP3),
        ("ogg", "libopus", Kind.OGG),
        ("flac", "flac", Kind.FLAC),
        ("ipod", "aac", Kind.M4A),
    ],
)
def test_audio_decodes_and_keeps_timestamps(
    container: str | None, codec: str | None, kind: Kind
) -> None:
    wav = (builders.FIXTURES / "speech.wav").read_bytes()
    data = wav if container is None else builders.transcode(wav, container, codec or "")
    assert sniff(data) is kind
    seen = []

    def fake_asr(audio: object) -> list[AsrSegment]:
        seen.append(len(audio))  # type: ignore[arg-type]
        return [
            AsrSegment(0.0, 2.3, "Chemical energy is stored in sugar."),
            AsrSegment(2.4, 3.0, "  "),
            AsrSegment(5.0, 5.5, "Birds fly south."),
        ]

    extracted = extract(data, kind, asr=fake_asr)
    assert 5.7 < seen[0] / 16_000 < 5.9
    assert extracted.text == "Chemical energy is stored in sugar.\n\nBirds fly south."
    assert [(s.audio_start, s.audio_end) for s in extracted.segments] == [(0.0, 2.3), (5.0, 5.5)]
    (only,) = extract_checked(extracted)
    assert (only.audio_start, only.audio_end) == (0.0, 5.5)
