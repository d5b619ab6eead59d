"""Images (OCR) and audio (speech to text), with their sizes checked before decoding.

An image's cost is its pixel count, which the header states before any decoding: a 50 KB
PNG can declare 100,000 x 100,000 pixels (10 GB once decoded). Pillow reads only the header
in `Image.open`, so the cap is checked there, before `load()`. Audio's cost is its duration,
which headers may misstate, so the cap is enforced on the decoded samples as they arrive.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from learningtool.ingestion.document import Extracted, Kind, Limits, TextBuilder, reading
from learningtool.ingestion.errors import (
    ExtractionError,
    FeatureUnavailableError,
    LimitExceededError,
)

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from learningtool.ingestion.asr import AsrSegment
    from learningtool.ingestion.ocr import OcrFn

AsrFn = Callable[["NDArray[np.float32]"], list["AsrSegment"]]
"""16 kHz mono float32 samples in, timed segments out."""

_PIL_FORMATS = {Kind.PNG: "PNG", Kind.JPEG: "JPEG", Kind.WEBP: "WEBP", Kind.TIFF: "TIFF"}
OCR_MAX_SIDE = 4_000  # the OCR engine works at 2,000 px; decoding more is wasted memory
PARAGRAPH_PAUSE_SECONDS = 2.0
MAX_BAD_PACKETS = 50


def extract_image(data: bytes, kind: Kind, limits: Limits, ocr: OcrFn | None) -> Extracted:
    from PIL import Image

    if ocr is None:
        raise FeatureUnavailableError(
            "Reading text from images (OCR) is not installed on this server."
        )
    builder = TextBuilder(limits)
    with reading("This image"), warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[kind]])
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _too_many_pixels(None, limits) from exc
        frames = getattr(image, "n_frames", 1)
        if frames > limits.max_pages:
            raise LimitExceededError(
                f"This image has {frames:,} pages; the limit is {limits.max_pages:,}.",
                details={"limit": "max_pages", "value": limits.max_pages},
            )
        for index in range(frames):
            if index:
                image.seek(index)
            width, height = image.size
            if width * height > limits.max_image_pixels:
                raise _too_many_pixels((width, height), limits)
            if kind is Kind.JPEG:
                image.draft("RGB", (OCR_MAX_SIDE, OCR_MAX_SIDE))  # decode at a reduced scale
            frame = image.convert("RGB")
            frame.thumbnail((OCR_MAX_SIDE, OCR_MAX_SIDE))
            for paragraph in ocr(frame):
                builder.add(paragraph, page=index + 1 if frames > 1 else None)
    return builder.build(kind, pages=frames)


def _too_many_pixels(size: tuple[int, int] | None, limits: Limits) -> LimitExceededError:
    stated = f"is {size[0]:,}x{size[1]:,} pixels" if size else "declares more pixels than that"
    return LimitExceededError(
        f"This image {stated}; the limit is {limits.max_image_pixels:,} pixels.",
        details={"limit": "max_image_pixels", "value": limits.max_image_pixels},
    )


def decode_audio(data: bytes, limits: Limits) -> NDArray[np.float32]:
    """16 kHz mono float32 samples of the first audio stream, via PyAV (FFmpeg). Stops and
    refuses as soon as the decoded audio passes `max_audio_seconds`. A few undecodable
    packets (a damaged MP3 frame) are skipped, as players do; many mean a broken file."""
    try:
        import av
        import numpy as np
    except ImportError as exc:  # PyAV comes with the speech-to-text extra
        raise FeatureUnavailableError("Speech to text is not installed on this server.") from exc

    cap = int(limits.max_audio_seconds * 16_000)
    too_long = LimitExceededError(
        f"This recording is longer than {limits.max_audio_seconds / 60:,.0f} minutes.",
        details={"limit": "max_audio_seconds", "value": limits.max_audio_seconds},
    )
    pieces: list[NDArray[Any]] = []
    decoded_samples = [0]
    bad = 0

    def keep(frames: list[av.AudioFrame]) -> None:
        for frame in frames:
            pieces.append(frame.to_ndarray().reshape(-1))
            decoded_samples[0] += pieces[-1].size
            if decoded_samples[0] > cap:
                raise too_long

    source = io.BytesIO(data)
    with reading("This audio file"), av.open(source, mode="r", metadata_errors="ignore") as box:
        if not box.streams.audio:
            raise ExtractionError("This file has no audio track.")
        if box.duration is not None and box.duration / 1_000_000 > limits.max_audio_seconds:
            raise too_long
        resampler = av.AudioResampler(format="s16", layout="mono", rate=16_000)
        for packet in box.demux(box.streams.audio[0]):
            try:
                decoded = packet.decode()
            except av.error.InvalidDataError:
                bad += 1
                if bad > MAX_BAD_PACKETS:
                    raise
                continue
            for frame in decoded:
                keep(resampler.resample(frame))
        keep(resampler.resample(None))
    if not pieces:
        raise ExtractionError("This audio file contains no decodable sound.")
    return np.concatenate(pieces).astype(np.float32) / 32768.0


def extract_audio(data: bytes, kind: Kind, limits: Limits, asr: AsrFn | None) -> Extracted:
    """One block per ASR segment, with its start and end time; segments follow each other on
    new lines, and a pause of two seconds or more starts a new paragraph."""
    if asr is None:
        raise FeatureUnavailableError("Speech to text is not installed on this server.")
    audio = decode_audio(data, limits)
    builder = TextBuilder(limits)
    previous_end: float | None = None
    for segment in asr(audio):
        pause = previous_end is not None and segment.start - previous_end >= (
            PARAGRAPH_PAUSE_SECONDS
        )
        added = builder.add(
            segment.text,
            separator="\n\n" if pause else "\n",
            audio_start=round(segment.start, 3),
            audio_end=round(segment.end, 3),
        )
        if added:
            previous_end = segment.end
    return builder.build(kind, duration=round(len(audio) / 16_000, 3))
