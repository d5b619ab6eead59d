"""Measurements behind the ingestion choices: `python -m tests.ingestion.measure`.

- PDF text extraction, pages per second, pypdf (used) vs PyMuPDF (AGPL; measured only if
  importable, e.g. `pip install --target /tmp/mupdf pymupdf` and `PYTHONPATH=/tmp/mupdf`)
  on a generated 100-page PDF (about 300 words per page);
- OCR seconds per rendered A4 page (150 dpi), cold (first call, model load) and warm;
- speech to text seconds per 10 s clip (the speech fixture looped to 10 s), cold and warm.
Not a test: timings depend on the machine, so nothing asserts on them.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable

from learningtool.ingestion import Kind, extract
from tests.ingestion import builders


def _best_of(runs: int, work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def measure_pdf(pages: int = 100) -> None:
    data = builders.long_pdf(pages)
    seconds = _best_of(3, lambda: extract(data, Kind.PDF, ocr=None))
    print(f"pdf  pypdf via extract(): {pages / seconds:7.0f} pages/s ({seconds:.2f} s)")
    import pypdf

    def pypdf_only() -> None:
        reader = pypdf.PdfReader(io.BytesIO(data))
        for page in reader.pages:
            page.extract_text()

    seconds = _best_of(3, pypdf_only)
    print(f"pdf  pypdf text only:     {pages / seconds:7.0f} pages/s ({seconds:.2f} s)")
    try:
        import pymupdf  # type: ignore[import-not-found]
    except ImportError:
        print("pdf  pymupdf: not importable, skipped")
        return

    def mupdf_only() -> None:
        with pymupdf.open(stream=data, filetype="pdf") as document:
            for page in document:
                page.get_text()

    seconds = _best_of(3, mupdf_only)
    print(f"pdf  pymupdf text only:   {pages / seconds:7.0f} pages/s ({seconds:.2f} s)")


def measure_ocr(pages: int = 3) -> None:
    from learningtool.ingestion.ocr import ocr_image

    paragraph = " ".join(builders.HARVARD_SENTENCES)
    page = builders.text_image([paragraph] * 7, width=1240, size=28)  # ~1240 x 1700, A4 150 dpi
    started = time.perf_counter()
    ocr_image(page)
    cold = time.perf_counter() - started
    warm = _best_of(pages, lambda: ocr_image(page))
    print(f"ocr  {page.width}x{page.height} page: cold {cold:.2f} s, warm {warm:.2f} s per page")


def measure_asr() -> None:
    import numpy as np

    from learningtool.ingestion.asr import transcribe
    from learningtool.ingestion.document import DEFAULT_LIMITS
    from learningtool.ingestion.media import decode_audio

    speech = decode_audio((builders.FIXTURES / "speech.wav").read_bytes(), DEFAULT_LIMITS)
    clip = np.resize(speech, 10 * 16_000)  # loop the recording to exactly 10 s
    started = time.perf_counter()
    transcribe(clip)
    cold = time.perf_counter() - started
    warm = _best_of(3, lambda: transcribe(clip))
    print(f"asr  10 s clip: cold {cold:.2f} s (includes model load), warm {warm:.2f} s")


if __name__ == "__main__":
    measure_pdf()
    measure_ocr()
    measure_asr()
