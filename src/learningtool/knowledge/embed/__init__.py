"""Text embeddings behind one small async interface (`Embedder`), local by default.

Modules: `protocol` (the interface, unit-length rows), `packaged` (the local model's files,
checked by size and SHA-256), `runtime` (the ONNX model inside a pool worker), `local` (the
service side of it), `remote` (what the embedding servers share: batching, retries,
validation), one module per server (`openai_compatible`, `ollama`), `hashing` (no model:
tests and installs without the `embed` extra), and `factory` (`EmbeddingSettings`,
`create_embedder`).
"""

from learningtool.knowledge.embed.errors import (
    EmbeddingError,
    EmbeddingProviderError,
    EmbeddingUnavailableError,
    ModelIntegrityError,
)
from learningtool.knowledge.embed.factory import EmbeddingSettings, create_embedder
from learningtool.knowledge.embed.hashing import HashingEmbedder
from learningtool.knowledge.embed.local import DEFAULT_BATCH_SIZE, LocalEmbedder
from learningtool.knowledge.embed.ollama import DEFAULT_OLLAMA_URL, OllamaEmbedder
from learningtool.knowledge.embed.openai_compatible import DEFAULT_OPENAI_URL, OpenAIEmbedder
from learningtool.knowledge.embed.packaged import (
    DEFAULT_LOCAL_MODEL,
    LOCAL_MODELS,
    LocalModel,
    PackagedFile,
    local_available,
    local_model,
    read_verified,
)
from learningtool.knowledge.embed.protocol import Embedder, Vectors, normalise
from learningtool.knowledge.embed.remote import KNOWN_DIMS
from learningtool.knowledge.embed.runtime import embed_in_worker

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_LOCAL_MODEL",
    "DEFAULT_OLLAMA_URL",
    "DEFAULT_OPENAI_URL",
    "KNOWN_DIMS",
    "LOCAL_MODELS",
    "Embedder",
    "EmbeddingError",
    "EmbeddingProviderError",
    "EmbeddingSettings",
    "EmbeddingUnavailableError",
    "HashingEmbedder",
    "LocalEmbedder",
    "LocalModel",
    "ModelIntegrityError",
    "OllamaEmbedder",
    "OpenAIEmbedder",
    "PackagedFile",
    "Vectors",
    "create_embedder",
    "embed_in_worker",
    "local_available",
    "local_model",
    "normalise",
    "read_verified",
]
