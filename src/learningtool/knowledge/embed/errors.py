"""The failures of the embedders; each message is fit for a log line and for the user."""

from __future__ import annotations


class EmbeddingError(Exception):
    """Embeddings cannot be computed; the message is fit for a log line and for the user."""


class EmbeddingUnavailableError(EmbeddingError):
    """The configured embedder is not installed or not configured completely."""


class ModelIntegrityError(EmbeddingUnavailableError):
    """A packaged model file does not match its recorded size and SHA-256."""


class EmbeddingProviderError(EmbeddingError):
    """An embedding server failed or answered something unusable."""
