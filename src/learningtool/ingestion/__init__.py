"""The pure core of document ingestion: sniff a type from bytes, extract text with exact
provenance, chunk it within a token budget.

Everything here is synchronous and CPU-bound by design: call it from a process pool or a
worker process, never on the event loop. Typical use inside a worker:

    kind = sniff(data)
    extracted = extract(data, kind)
    chunks = chunk(extracted)

OCR (`rapidocr-onnxruntime`) and speech to text (`faster-whisper` + the packaged Whisper base
model) are optional: without them, images and recordings raise `FeatureUnavailableError`
and scanned PDF pages are skipped with a warning.
"""

from learningtool.ingestion.chunk import Chunk, chunk, count_tokens
from learningtool.ingestion.document import DEFAULT_LIMITS, Extracted, Kind, Limits, Segment
from learningtool.ingestion.errors import (
    ExtractionError,
    FeatureUnavailableError,
    IngestionError,
    LimitExceededError,
    ModelIntegrityError,
    NoTextError,
    UnsupportedTypeError,
)
from learningtool.ingestion.extract import default_asr, default_ocr, extract, sniff_and_extract
from learningtool.ingestion.sniff import SUPPORTED, sniff

__all__ = [
    "DEFAULT_LIMITS",
    "SUPPORTED",
    "Chunk",
    "Extracted",
    "ExtractionError",
    "FeatureUnavailableError",
    "IngestionError",
    "Kind",
    "LimitExceededError",
    "Limits",
    "ModelIntegrityError",
    "NoTextError",
    "Segment",
    "UnsupportedTypeError",
    "chunk",
    "count_tokens",
    "default_asr",
    "default_ocr",
    "extract",
    "sniff",
    "sniff_and_extract",
]
