"""Hostile and broken input: each case ends in a typed error with a readable message, never
a library's traceback text, and without doing the expensive thing it was built to provoke."""

from __future__ import annotations

import io
import pickle
import random
import re
import struct
import warnings
import zipfile

import pytest
from PIL import Image

from learningtool.ingestion import (
    ExtractionError,
    FeatureUnavailableError,
    IngestionError,
    Kind,
    LimitExceededError,
    Limits,
    UnsupportedTypeError,
    extract,
    sniff,
    sniff_and_extract,
)
from tests.ingestion import builders

MiB = 1024 * 1024


def never_called(*_args: object) -> list[str]:
    raise AssertionError("the model must not run on refused input")


def assert_readable(error: IngestionError) -> None:
    message = error.message
    assert message and message[0].isupper() and message.endswith((".", "!"))
    for leak in ("Traceback", "Error:", "/usr/", "site-packages", " object at "):
        assert leak not in message
    assert not re.search(r"0x[0-9a-f]{6,}", message)
    clone = pickle.loads(pickle.dumps(error))  # crosses the process pool intact
    assert type(clone) is type(error) and clone.message == message
    assert clone.details == error.details


def test_truncated_pdf() -> None:
    data = builders.pdf_bytes([["Some text on page one."], ["And page two."]])
    with pytest.raises(ExtractionError, match="truncated") as caught:
        extract(data[: len(data) // 2], Kind.PDF, ocr=never_called)
    assert_readable(caught.value)


def test_garbage_pdf_body() -> None:
    data = b"%PDF-1.7\n" + bytes(range(256)) * 20 + b"\n%%EOF\n"
    with pytest.raises(ExtractionError) as caught:
        extract(data, sniff(data), ocr=never_called)
    assert "damaged" in caught.value.message
    assert_readable(caught.value)


def test_too_many_pdf_pages() -> None:
    data = builders.pdf_bytes([["page"]] * 5)
    with pytest.raises(LimitExceededError, match="5 pages; the limit is 3") as caught:
        extract(data, Kind.PDF, limits=Limits(max_pages=3))
    assert caught.value.details["limit"] == "max_pages"
    assert_readable(caught.value)


def test_pdf_image_with_huge_declared_size_is_not_decoded() -> None:
    data = builders.pdf_bytes([builders.text_image(["x"])])
    forged = data.replace(b"/Width 1240", b"/Width 9999999", 1)
    with pytest.raises(LimitExceededError, match="pixel image") as caught:
        extract(forged, Kind.PDF, ocr=never_called)
    assert_readable(caught.value)


def test_ocr_budgets_skip_pages_before_decoding_their_images() -> None:
    """Per page and per document, the images' declared pixels are weighed before any is
    decoded: a page over budget is skipped with a warning, the document still reads."""
    scan = builders.text_image(["Scanned words."])  # 1240 px wide
    data = builders.pdf_bytes([["A page with a text layer."], scan, scan])
    pixels = scan.width * scan.height
    one_page = extract(data, Kind.PDF, ocr=never_called, limits=Limits(max_page_pixels=pixels - 1))
    assert one_page.meta["ocr_pages"] == []
    assert "megapixels of images, beyond what OCR reads per page" in one_page.meta["warnings"][0]
    budget = Limits(max_ocr_pixels=pixels + 1)
    read: list[int] = []
    document = extract(data, Kind.PDF, ocr=lambda image: read.append(1) or ["Read."], limits=budget)
    assert document.meta["ocr_pages"] == [2] and read == [1]
    assert "per document: skipped" in document.meta["warnings"][0]


def test_an_xml_part_too_large_to_parse_is_refused() -> None:
    """An 85 MB DOCX of empty paragraphs (325 MB of XML) took a worker to 5 GB."""
    paragraphs = b"<w:p/>" * (2 * MiB // 6)
    data = _docx_with({"word/extra.xml": paragraphs})
    with pytest.raises(LimitExceededError, match="MiB XML part") as caught:
        extract(data, Kind.DOCX, limits=Limits(max_xml_bytes=1 * MiB, max_zip_ratio=1e9))
    assert caught.value.details["limit"] == "max_xml_bytes"
    assert_readable(caught.value)


def _docx_with(members: dict[str, bytes]) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate names we want
        return builders.rezip(builders.docx_bytes(), members)


def test_zip_bomb_member_in_docx() -> None:
    data = _docx_with({"word/media/image1.png": b"\x00" * (32 * MiB)})
    assert len(data) < 200_000  # 32 MiB of zeros deflate to about 32 KB
    with pytest.raises(LimitExceededError, match="zip bomb") as caught:
        extract(data, sniff(data))
    assert caught.value.details["limit"] == "max_zip_ratio"
    assert_readable(caught.value)


def _forge_declared_size(data: bytes, member: str, size: int) -> bytes:
    """Rewrite the uncompressed size that the central directory states for `member`."""
    raw = bytearray(data)
    at = 0
    name = member.encode()
    while True:
        at = raw.index(b"PK\x01\x02", at)
        name_length = struct.unpack_from("<H", raw, at + 28)[0]
        if raw[at + 46 : at + 46 + name_length] == name:
            struct.pack_into("<I", raw, at + 24, size)
            return bytes(raw)
        at += 4


def test_declared_size_over_the_cap_is_refused_before_parsing() -> None:
    data = _docx_with({"word/media/big.bin": b"\x00" * 1000})
    forged = _forge_declared_size(data, "word/media/big.bin", 3_000_000_000)
    with pytest.raises(LimitExceededError) as caught:
        extract(forged, Kind.DOCX)
    assert caught.value.details["limit"] in ("max_zip_ratio", "max_zip_uncompressed_bytes")
    assert_readable(caught.value)


def test_total_uncompressed_size_cap() -> None:
    incompressible = random.Random(0).randbytes(2 * MiB)
    data = _docx_with({"word/media/a.bin": incompressible})
    with pytest.raises(LimitExceededError, match="unpacks to") as caught:
        extract(data, Kind.DOCX, limits=Limits(max_zip_uncompressed_bytes=1 * MiB))
    assert_readable(caught.value)


def test_too_many_members_in_pptx() -> None:
    members = {f"ppt/media/m{n}.bin": b"x" for n in range(5_001)}
    data = builders.rezip(builders.pptx_bytes(), members, level=1)
    with pytest.raises(LimitExceededError, match="parts; the limit is 5,000") as caught:
        extract(data, sniff(data))
    assert_readable(caught.value)


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/evil.xml",
        "/abs/path.xml",
        "word/../../x.xml",
        "C:/windows/x.xml",
        "word\\..\\x.xml",
        "word/document.xml",
    ],
)
def test_odd_member_names(name: str) -> None:
    data = _docx_with({name: b"<x/>"})  # word/document.xml: a duplicate of a real part
    with pytest.raises(ExtractionError, match="invalid name") as caught:
        extract(data, Kind.DOCX)
    assert not isinstance(caught.value, LimitExceededError)
    assert_readable(caught.value)


def test_corrupt_docx_part() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", b"<Types><oops")
        archive.writestr("word/document.xml", b"not xml at all")
    data = out.getvalue()
    assert sniff(data) is Kind.DOCX
    with pytest.raises(ExtractionError, match="Word document is damaged") as caught:
        extract(data, Kind.DOCX)
    assert_readable(caught.value)


def test_truncated_pptx() -> None:
    data = builders.pptx_bytes()
    with pytest.raises(ExtractionError) as caught:
        extract(data[: len(data) - 200], Kind.PPTX)
    assert_readable(caught.value)


@pytest.mark.parametrize("size", [(100_000, 100_000), (8_000, 8_000)])
def test_huge_image_dimensions_are_refused_from_the_header(size: tuple[int, int]) -> None:
    data = builders.png_header_only(*size)
    assert len(data) < 2_000
    assert sniff(data) is Kind.PNG
    with pytest.raises(LimitExceededError, match="pixels") as caught:
        extract(data, Kind.PNG, ocr=never_called)
    assert caught.value.details["limit"] == "max_image_pixels"
    assert_readable(caught.value)


def test_truncated_image() -> None:
    data = builders.png_bytes(builders.text_image(["Some words here"]))
    with pytest.raises(ExtractionError, match="image is damaged") as caught:
        extract(data[: len(data) // 2], Kind.PNG, ocr=never_called)
    assert_readable(caught.value)


def test_wrong_type_behind_a_claimed_one() -> None:
    """A caller that trusted an extension would pass the wrong kind: still a typed error."""
    png = builders.png_bytes(Image.new("L", (10, 10)))
    with pytest.raises(ExtractionError):
        extract(png, Kind.PDF)
    with pytest.raises(ExtractionError, match="not a valid ZIP"):
        extract(builders.pdf_bytes([["x"]]), Kind.DOCX)
    with pytest.raises(ExtractionError, match="not UTF-8"):
        extract(png, Kind.TEXT)
    with pytest.raises(ExtractionError, match="audio"):
        extract(png, Kind.MP3, asr=never_called)


def test_empty_input() -> None:
    with pytest.raises(UnsupportedTypeError, match="empty"):
        sniff_and_extract(b"")
    with pytest.raises(ExtractionError, match="empty") as caught:
        extract(b"", Kind.TEXT)
    assert_readable(caught.value)
    with pytest.raises(ExtractionError, match="No text"):
        extract(b"   \n\n  ", Kind.TEXT)


def test_input_size_cap() -> None:
    with pytest.raises(LimitExceededError, match="larger than 1 MiB"):
        extract(b"a" * (MiB + 1), Kind.TEXT, limits=Limits(max_input_bytes=MiB))


def test_audio_longer_than_the_cap_stops_decoding() -> None:
    wav = (builders.FIXTURES / "speech.wav").read_bytes()
    with pytest.raises(LimitExceededError, match="longer than") as caught:
        extract(wav, Kind.WAV, asr=never_called, limits=Limits(max_audio_seconds=3.0))
    assert_readable(caught.value)


def test_truncated_audio_is_decoded_as_far_as_it_goes() -> None:
    wav = (builders.FIXTURES / "speech.wav").read_bytes()
    mp3 = builders.transcode(wav, "mp3", "libmp3lame")
    lengths = []

    def fake_asr(audio: object) -> list[object]:
        lengths.append(len(audio))  # type: ignore[arg-type]
        return []

    with pytest.raises(ExtractionError, match="No speech"):
        extract(mp3[: len(mp3) // 2], Kind.MP3, asr=fake_asr)  # type: ignore[arg-type]
    assert 1.5 * 16_000 < lengths[0] < 4.5 * 16_000


def test_garbage_audio() -> None:
    data = b"OggS" + bytes(range(256)) * 10
    with pytest.raises(ExtractionError) as caught:
        extract(data, Kind.OGG, asr=never_called)
    assert_readable(caught.value)


def test_missing_engines_are_a_clear_feature_error() -> None:
    png = builders.png_bytes(builders.text_image(["x"]))
    with pytest.raises(FeatureUnavailableError, match="OCR") as caught:
        extract(png, Kind.PNG, ocr=None)
    assert caught.value.status_code == 503
    with pytest.raises(FeatureUnavailableError, match="Speech"):
        extract((builders.FIXTURES / "speech.wav").read_bytes(), Kind.WAV, asr=None)


def test_member_larger_than_declared_is_cut_at_its_declared_size() -> None:
    """zipfile inflates no more than the stated size and then fails the CRC check, so the
    stated sizes checked up front really bound what parsing can allocate."""
    data = builders.docx_bytes()
    forged = _forge_declared_size(data, "word/document.xml", 100)
    with pytest.raises(ExtractionError, match="damaged") as caught:
        extract(forged, Kind.DOCX)
    assert_readable(caught.value)


def test_results_and_errors_cross_a_process_pool() -> None:
    """The service runs extraction in a process pool: results and typed errors must pickle."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        extracted = pool.submit(sniff_and_extract, builders.docx_bytes()).result(timeout=60)
        assert "## Mitochondria" in extracted.text
        assert extracted.segments[0].heading_path == ("Cell Biology",)
        bomb = _docx_with({"word/media/x.bin": b"\x00" * (8 * MiB)})
        with pytest.raises(LimitExceededError, match="zip bomb") as caught:
            pool.submit(sniff_and_extract, bomb).result(timeout=60)
        assert caught.value.details["limit"] == "max_zip_ratio"


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (n, (b"&lol%d;" % (n - 1) if n > 1 else b"&lol;") * 10)
        for n in range(1, 10)
    )
    + b"]>"
)


def test_xml_entity_expansion_is_not_performed() -> None:
    """A billion-laughs DTD in a DOCX body: the parser does not expand entities, so the
    document is read (or refused) in milliseconds, never 3 GB of 'lol'."""
    body = BILLION_LAUGHS + (
        b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        b"<w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = builders.rezip(builders.docx_bytes(), {"word/document.xml": body})
    try:
        text = extract(data, Kind.DOCX).text
    except IngestionError as error:
        assert_readable(error)
    else:
        assert "lol" * 100 not in text


def test_html_with_an_entity_bomb_stays_small() -> None:
    page = BILLION_LAUGHS + b"<html><body><p>Tides &lol9; follow the Moon.</p></body></html>"
    extracted = extract(page, Kind.HTML)
    assert len(extracted.text) < 1_000 and "Tides" in extracted.text


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (builders.pdf_bytes([["A PDF page."]]) + builders.docx_bytes(), Kind.PDF),
        (b"%PDF-1.7\n" + builders.docx_bytes(), Kind.PDF),
        (b"<html><body><p>Hello</p></body></html>\n%PDF-1.4\n", Kind.HTML),
    ],
)
def test_polyglot_files_are_read_as_one_kind_or_refused_cleanly(data: bytes, kind: Kind) -> None:
    """Bytes that are two formats at once: the sniffer picks one from the bytes, and the
    extractor either reads them as that kind or refuses with a readable error."""
    assert sniff(data) is kind
    try:
        extracted = extract(data, kind, ocr=never_called)
    except IngestionError as error:
        assert_readable(error)
    else:
        assert extracted.text.strip()
