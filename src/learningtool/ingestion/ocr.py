"""OCR behind one small function, so it can be an optional extra (`learningtool[ocr]`).

Engine: `rapidocr-onnxruntime`, which ships its PP-OCRv4 ONNX models inside the wheel, so
nothing is downloaded. The model files are checked against the SHA-256 sums below before
the first load: a package from a registry is a supply-chain risk, and a swapped model file
is code-adjacent (ONNX graphs run native kernels on our input).

Settings, measured on rendered pages: the text-direction classifier is off because it
rotated correct lines by 180 degrees and garbled them (upright documents are the norm);
detection resizes by the longest side (up to 2,000 px) instead of upscaling the shortest
side to 736 px, which split words on small images and tripled detection time.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from statistics import median
from typing import TYPE_CHECKING, Any

from learningtool.ingestion.errors import FeatureUnavailableError, ModelIntegrityError

if TYPE_CHECKING:
    from PIL import Image

OcrFn = Callable[["Image.Image"], list[str]]
"""Image in, paragraphs out (reading order, lines joined with newlines)."""

PACKAGE = "rapidocr_onnxruntime"  # rapidocr-onnxruntime==1.4.4
MODEL_SHA256 = {
    "det_model_path": (
        "models/ch_PP-OCRv4_det_infer.onnx",
        "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
    ),
    "rec_model_path": (
        "models/ch_PP-OCRv4_rec_infer.onnx",
        "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
    ),
    "cls_model_path": (
        "models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
        "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
    ),
}
MIN_SCORE = 0.5


@dataclass(frozen=True, slots=True)
class OcrBox:
    text: str
    left: float
    top: float
    right: float
    bottom: float


def ocr_available() -> bool:
    return importlib.util.find_spec(PACKAGE) is not None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@lru_cache(maxsize=1)
def _engine() -> Any:
    """The OCR engine of this process, built once, from checksum-verified model files."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.origin:
        raise FeatureUnavailableError(
            "Reading text from images (OCR) is not installed on this server."
        )
    root = Path(spec.origin).parent
    paths: dict[str, str] = {}
    for key, (relative, expected) in MODEL_SHA256.items():
        path = root / relative
        if not path.is_file() or sha256_file(path) != expected:
            raise ModelIntegrityError(
                "The OCR model files do not match their recorded checksums; OCR is disabled.",
                details={"file": relative},
            )
        paths[key] = str(path)
    from rapidocr_onnxruntime import RapidOCR  # type: ignore[import-untyped]

    return RapidOCR(det_limit_type="max", det_limit_side_len=2000, **paths)


def ocr_image(image: Image.Image) -> list[str]:
    """Paragraphs of text found in `image` (an already size-checked Pillow image)."""
    result, _ = _engine()(image.convert("RGB"), use_cls=False)
    boxes = []
    for points, text, score in result or []:
        if float(score) < MIN_SCORE or not str(text).strip():
            continue
        xs = [float(point[0]) for point in points]
        ys = [float(point[1]) for point in points]
        boxes.append(OcrBox(str(text).strip(), min(xs), min(ys), max(xs), max(ys)))
    return layout(boxes)


def layout(boxes: list[OcrBox]) -> list[str]:
    """Reading order for one column: boxes whose vertical centres fall within half a line
    height of each other form a line (left to right); a vertical gap of more than 0.8 line
    heights between lines starts a new paragraph."""
    if not boxes:
        return []
    height = median(box.bottom - box.top for box in boxes) or 1.0
    lines: list[list[OcrBox]] = []
    for box in sorted(boxes, key=lambda b: (b.top + b.bottom) / 2):
        centre = (box.top + box.bottom) / 2
        if lines and abs(centre - _centre(lines[-1])) <= height / 2:
            lines[-1].append(box)
        else:
            lines.append([box])
    paragraphs: list[list[str]] = []
    previous_bottom: float | None = None
    for line in lines:
        top = min(box.top for box in line)
        if previous_bottom is None or top - previous_bottom > 0.8 * height:
            paragraphs.append([])
        paragraphs[-1].append(" ".join(box.text for box in sorted(line, key=lambda b: b.left)))
        previous_bottom = max(box.bottom for box in line)
    return ["\n".join(lines_) for lines_ in paragraphs]


def _centre(line: list[OcrBox]) -> float:
    return sum((box.top + box.bottom) / 2 for box in line) / len(line)
