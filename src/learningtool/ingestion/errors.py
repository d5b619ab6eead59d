"""Typed ingestion errors with messages a learner can read.

The core runs inside worker processes, so these stay free of web-framework imports and pickle
cleanly (a custom `__init__` breaks the default exception pickling; `__reduce__` fixes it).
The service maps them onto its HTTP error shape with `code` and `status_code`. Messages never
contain a library's exception text or a server path: the original exception is chained
(`raise ... from exc`) for the log, and only its class name goes into `details`.

    IngestionError                   422 ingestion_failed
    ├── UnsupportedTypeError         415 unsupported_type   (details: supported)
    └── ExtractionError              422 extraction_failed
        ├── LimitExceededError       413 limit_exceeded     (details: limit, value)
        ├── NoTextError              422 no_text
        └── FeatureUnavailableError  503 feature_unavailable (OCR/ASR not installed)
            └── ModelIntegrityError  503 model_integrity     (a model file failed its checksum)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _rebuild(cls: type[IngestionError], message: str, details: dict[str, Any]) -> IngestionError:
    return cls(message, details=details)


class IngestionError(Exception):
    code = "ingestion_failed"
    status_code = 422

    def __init__(self, message: str, *, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.details))

    def __str__(self) -> str:
        return self.message


class UnsupportedTypeError(IngestionError):
    code = "unsupported_type"
    status_code = 415


class ExtractionError(IngestionError):
    code = "extraction_failed"
    status_code = 422


class LimitExceededError(ExtractionError):
    code = "limit_exceeded"
    status_code = 413


class NoTextError(ExtractionError):
    code = "no_text"
    status_code = 422


class FeatureUnavailableError(ExtractionError):
    code = "feature_unavailable"
    status_code = 503


class ModelIntegrityError(FeatureUnavailableError):
    code = "model_integrity"
    status_code = 503
