"""`extract(data, kind)`: bytes of a sniffed type in, `Extracted` text with provenance out.

Pure and synchronous on purpose: it parses hostile input and runs OCR/ASR models, which is
CPU-bound work for a process pool (or a worker process), never for the event loop. It does
no I/O besides reading the installed model files; the caller owns blobs, timeouts and
retries. Every failure is an `IngestionError` subclass with a readable message.

OCR and ASR are injected as plain functions (`ocr`, `asr`), defaulting to the installed
engines: that keeps them optional extras, lets tests substitute fakes, and lets the service
configure them (for example a Whisper directory of its own) without global state.
"""

from __future__ import annotations

import warnings
from functools import partial
from typing import Any, Literal

from learningtool.ingestion import asr as asr_engine
from learningtool.ingestion import ocr as ocr_engine
from learningtool.ingestion.document import DEFAULT_LIMITS, Extracted, Kind, Limits
from learningtool.ingestion.errors import ExtractionError, LimitExceededError, NoTextError
from learningtool.ingestion.media import AsrFn, extract_audio, extract_image
from learningtool.ingestion.ocr import OcrFn
from learningtool.ingestion.office import extract_docx, extract_pptx
from learningtool.ingestion.pdf import extract_pdf
from learningtool.ingestion.sniff import sniff
from learningtool.ingestion.web import extract_html, extract_markdown, extract_text

_NO_TEXT = {
    "image": "No text was found in this image.",
    "audio": "No speech was recognised in this recording.",
    "other": "No text could be extracted from this file.",
}


def default_ocr() -> OcrFn | None:
    """The installed OCR engine, or None when the `ocr` extra is not installed."""
    return ocr_engine.ocr_image if ocr_engine.ocr_available() else None


def default_asr(model_dir: str | None = None, language: str | None = None) -> AsrFn | None:
    """The installed speech-to-text engine, or None when the `asr` extra is not installed.
    `model_dir` points at a CTranslate2 Whisper directory fetched by the operator instead of
    the packaged model."""
    if not asr_engine.asr_available(model_dir):
        return None
    return partial(asr_engine.transcribe, model_dir=model_dir, language=language)


def extract(
    data: bytes,
    kind: Kind | str,
    *,
    limits: Limits = DEFAULT_LIMITS,
    ocr: OcrFn | Literal["default"] | None = "default",
    asr: AsrFn | Literal["default"] | None = "default",
) -> Extracted:
    """Extract the text of `data`, which `sniff` found to be `kind`.

    `ocr`/`asr` default to the installed engines; pass None to switch one off (a scanned
    PDF page then becomes a warning, an image or recording an error)."""
    kind = Kind(kind)
    if not data:
        raise ExtractionError("The file is empty.")
    if len(data) > limits.max_input_bytes:
        raise LimitExceededError(
            f"The file is larger than {limits.max_input_bytes / 2**20:,.0f} MiB.",
            details={"limit": "max_input_bytes", "value": limits.max_input_bytes},
        )
    ocr_fn = default_ocr() if isinstance(ocr, str) else ocr
    asr_fn = default_asr() if isinstance(asr, str) else asr
    with warnings.catch_warnings():
        # Parsers warn about every oddity of a damaged file; those are not ours to surface,
        # and under `-W error` they would turn a readable file into a crash.
        warnings.simplefilter("ignore")
        result = _dispatch(data, kind, limits, ocr_fn, asr_fn)
    if not result.text.strip():
        family = "image" if kind.is_image else "audio" if kind.is_audio else "other"
        reasons = result.meta.get("warnings") or []
        raise NoTextError(_NO_TEXT[family], details={"warnings": reasons})
    return result


def _dispatch(
    data: bytes, kind: Kind, limits: Limits, ocr: OcrFn | None, asr: AsrFn | None
) -> Extracted:
    if kind is Kind.PDF:
        return extract_pdf(data, limits, ocr)
    if kind is Kind.DOCX:
        return extract_docx(data, limits)
    if kind is Kind.PPTX:
        return extract_pptx(data, limits)
    if kind is Kind.HTML:
        return extract_html(data, limits)
    if kind is Kind.MARKDOWN:
        return extract_markdown(data, limits)
    if kind is Kind.TEXT:
        return extract_text(data, limits)
    if kind.is_image:
        return extract_image(data, kind, limits, ocr)
    return extract_audio(data, kind, limits, asr)


def sniff_and_extract(data: bytes, **options: Any) -> Extracted:
    """`extract(data, sniff(data))`: the whole decision made from the bytes."""
    return extract(data, sniff(data), **options)
