"""The local model inside a pool worker process: tokenizer and ONNX session, loaded once per
process from verified bytes. It runs in the service's process pool (`CpuPool`), never on the
event loop and never in a thread of the service process (the GIL would stall the loop).

MiniLM reads at most 256 word-pieces of a text (the rest is cut off); the service's chunk
budget of 240 approximate tokens is about 160 word-pieces (median) on real prose.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from learningtool.knowledge.embed.packaged import LocalModel, local_model, read_verified
from learningtool.knowledge.embed.protocol import Vectors, normalise

# Texts per inference call. Small batches cost no speed on CPU and keep the activations (and
# onnxruntime's arena, which keeps the largest it has seen) small: 600 chunks took 3.7 s and
# a 1,050 MiB peak at 32, 2.5 s and 430 MiB at 4 (the model alone: 320 MiB).
INFERENCE_BATCH = 4


class _Runtime:
    """A loaded model in one process: tokenizer and ONNX session from verified bytes."""

    def __init__(self, model: LocalModel, threads: int) -> None:
        import onnxruntime as ort  # type: ignore[import-untyped]
        from tokenizers import Tokenizer

        onnx_bytes = read_verified(model.onnx)
        tokenizer = Tokenizer.from_str(read_verified(model.tokenizer).decode("utf-8"))
        tokenizer.enable_truncation(max_length=model.max_tokens)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest in the batch
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.model = model
        self.tokenizer = tokenizer
        self.session = ort.InferenceSession(
            onnx_bytes, sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.inputs = {i.name for i in self.session.get_inputs()}

    def embed(self, texts: Sequence[str], batch: int = INFERENCE_BATCH) -> Vectors:
        """Mean pooling over real tokens, then L2 (the sentence-transformers pipeline of this
        model). Texts are sorted by length so that each batch pads little."""
        out = np.zeros((len(texts), self.model.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch):
            picked = order[start : start + batch]
            encodings = self.tokenizer.encode_batch([texts[i] for i in picked])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.inputs:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self.session.run(None, feeds)[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            out[picked] = pooled
        return normalise(out)


_RUNTIMES: dict[tuple[str, int], _Runtime] = {}


def embed_in_worker(model_id: str, texts: list[str], threads: int = 1) -> Vectors:
    """Pool entry point: embed `texts` (prefixes already applied) with the packaged model,
    loaded (and verified) once per worker process."""
    key = (model_id, threads)
    runtime = _RUNTIMES.get(key)
    if runtime is None:
        runtime = _RUNTIMES[key] = _Runtime(local_model(model_id), threads)
    return runtime.embed(texts)
