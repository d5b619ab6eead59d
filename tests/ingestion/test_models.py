"""The real OCR and speech-to-text engines, loaded offline from checksum-verified files.

Skipped with a reason when an optional engine is not installed (the `ocr`/`asr` extras)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from learningtool.ingestion import Kind, ModelIntegrityError, chunk, extract, sniff
from learningtool.ingestion import asr as asr_engine
from learningtool.ingestion import ocr as ocr_engine
from tests.ingestion import builders
from tests.ingestion.invariants import extract_checked

needs_ocr = pytest.mark.skipif(not ocr_engine.ocr_available(), reason="OCR extra not installed")
needs_asr = pytest.mark.skipif(not asr_engine.asr_available(), reason="ASR extra not installed")


@pytest.fixture
def fresh_engines() -> Iterator[None]:
    """Drop the per-process model caches around a test that tampers with checksums."""
    ocr_engine._engine.cache_clear()
    asr_engine._model.cache_clear()
    yield
    ocr_engine._engine.cache_clear()
    asr_engine._model.cache_clear()


@pytest.mark.slow
@needs_ocr
def test_ocr_reads_a_png_of_text() -> None:
    image = builders.text_image(
        [
            "Cellular respiration releases energy stored in glucose.",
            "Ribosomes build proteins by reading messenger RNA.",
        ]
    )
    data = builders.png_bytes(image)
    extracted = extract(data, sniff(data))
    extract_checked(extracted)
    text = extracted.text.lower()
    for word in ("respiration", "glucose", "ribosomes", "proteins", "messenger"):
        assert word in text
    assert len(extracted.segments) == 2  # the blank line between paragraphs is seen


@pytest.mark.slow
@needs_ocr
def test_scanned_pdf_page_is_read_by_ocr() -> None:
    scan = builders.text_image(["Photosynthesis happens in the chloroplasts of plant cells."])
    data = builders.pdf_bytes([["Introduction to plant biology, with a text layer."], scan])
    extracted = extract(data, Kind.PDF)
    assert extracted.meta["ocr_pages"] == [2]
    chunks = extract_checked(extracted)
    page_two = " ".join(c.text for c in chunks if c.page == 2).lower()
    assert "chloroplasts" in page_two and "photosynthesis" in page_two
    assert "introduction" not in page_two


@pytest.mark.slow
@needs_asr
def test_speech_to_text_with_timestamps() -> None:
    data = (builders.FIXTURES / "speech.wav").read_bytes()  # espeak-ng, 5.8 s, 1.2 s pause
    extracted = extract(data, sniff(data))
    text = extracted.text.lower()
    assert "chemical energy" in text and "sugar" in text
    assert "birds fly south" in text and "winter" in text
    first, *rest = extracted.segments
    assert "sugar" in extracted.slice(first).lower()
    assert first.audio_start is not None and first.audio_start < 0.5
    last = rest[-1] if rest else first
    assert "winter" in extracted.slice(last).lower()
    assert last.audio_end is not None and 4.5 < last.audio_end <= 5.9
    if rest:  # Whisper puts the second sentence after the pause
        assert last.audio_start is not None and last.audio_start > 2.0
    (only,) = chunk(extracted)
    assert (only.audio_start, only.audio_end) == (first.audio_start, last.audio_end)


@pytest.mark.slow
@needs_asr
def test_packaged_whisper_files_match_the_published_checksums() -> None:
    files = asr_engine.packaged_model_files()
    assert len(files["model.bin"]) == 145_217_532


@needs_asr
def test_tampered_whisper_checksum_refuses_to_load(
    fresh_engines: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = dict(asr_engine.MODEL_FILES)
    wrong["config.json"] = (wrong["config.json"][0], "0" * 64)
    monkeypatch.setattr(asr_engine, "MODEL_FILES", wrong)
    with pytest.raises(ModelIntegrityError, match="checksums") as caught:
        asr_engine.packaged_model_files()
    assert caught.value.code == "model_integrity"


@needs_ocr
def test_tampered_ocr_checksum_refuses_to_load(
    fresh_engines: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = dict(ocr_engine.MODEL_SHA256)
    wrong["cls_model_path"] = (wrong["cls_model_path"][0], "0" * 64)
    monkeypatch.setattr(ocr_engine, "MODEL_SHA256", wrong)
    data = builders.png_bytes(builders.text_image(["x"]))
    with pytest.raises(ModelIntegrityError, match="OCR model files"):
        extract(data, Kind.PNG)


def test_layout_orders_boxes_into_lines_and_paragraphs() -> None:
    box = ocr_engine.OcrBox
    boxes = [
        box("world", 120, 10, 200, 40),
        box("Hello", 10, 12, 100, 40),
        box("second line", 10, 50, 200, 80),
        box("New paragraph", 10, 140, 200, 170),
    ]
    assert ocr_engine.layout(boxes) == ["Hello world\nsecond line", "New paragraph"]
    assert ocr_engine.layout([]) == []
