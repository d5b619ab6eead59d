"""Fixture builders: every test document is made at test time from Python, so the suite needs
no office suite, no system font (Pillow ships a default TrueType face) and no binary blobs
besides the short speech recording in `tests/fixtures/ingestion/`."""

from __future__ import annotations

import io
import struct
import textwrap
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ingestion"
# speech.wav (185 KB, 16 kHz mono 16-bit, 5.8 s) was made once, so CI needs no espeak-ng:
#   espeak-ng -v en-us -s 140 -m -w raw.wav "<speak>Chemical energy is stored in sugar.
#     <break time='1200ms'/>Birds fly south in the winter.</speak>"
# then resampled to 16 kHz mono with PyAV (`learningtool.ingestion.media.decode_audio`) and
# written with the `wave` module. espeak-ng is GPL-3; its output audio is not covered by it.

PdfPage = Sequence[str] | Image.Image


def _pdf_escape(line: str) -> bytes:
    raw = line.encode("cp1252", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def pdf_bytes(pages: Sequence[PdfPage], *, title: str | None = None) -> bytes:
    """A minimal but valid PDF: text pages use the base-14 Helvetica font (one `Tj` per line,
    an empty string is a blank line), image pages are one full-page grayscale image and no
    text layer at all, like a scan."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    def stream(dictionary: bytes, data: bytes) -> bytes:
        return (
            b"<< " + dictionary + b" /Length %d >>\nstream\n" % len(data) + data + (b"\nendstream")
        )

    catalog = add(b"")  # filled in below, once the page tree exists
    tree = add(b"")
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    kids: list[int] = []
    for page in pages:
        if isinstance(page, Image.Image):
            gray = page.convert("L")
            width, height = gray.size
            image = add(
                stream(
                    b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray"
                    b" /BitsPerComponent 8 /Filter /FlateDecode" % (width, height),
                    zlib.compress(gray.tobytes()),
                )
            )
            content = b"q 595 0 0 %d 0 %d cm /Im1 Do Q" % (
                round(595 * height / width),
                842 - round(595 * height / width),
            )
            resources = b"<< /XObject << /Im1 %d 0 R >> >>" % image
        else:
            ops = [b"BT /F1 12 Tf 16 TL 72 770 Td"]
            for line in page:
                ops.append(b"(" + _pdf_escape(line) + b") Tj T*" if line else b"T*")
            ops.append(b"ET")
            content = b"\n".join(ops)
            resources = b"<< /Font << /F1 %d 0 R >> >>" % font
        contents = add(stream(b"", content))
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] /Resources %s"
                b" /Contents %d 0 R >>" % (tree, resources, contents)
            )
        )
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % tree
    objects[tree - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % kid for kid in kids),
        len(kids),
    )
    info = add(b"<< /Title (" + _pdf_escape(title) + b") >>") if title else None

    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    trailer = b"/Size %d /Root %d 0 R" % (len(objects) + 1, catalog)
    if info:
        trailer += b" /Info %d 0 R" % info
    out.write(b"trailer\n<< " + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def text_image(paragraphs: Sequence[str], *, width: int = 1240, size: int = 28) -> Image.Image:
    """Black text on white, wrapped, with a blank line between paragraphs: a clean 'scan'."""
    font = ImageFont.load_default(size=size)
    lines: list[str] = []
    for paragraph in paragraphs:
        lines.extend(textwrap.wrap(paragraph, width=int(width / (size * 0.55))))
        lines.append("")
    height = 80 + len(lines) * int(size * 1.45)
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    y = 40
    for line in lines:
        if line:
            draw.text((60, y), line, font=font, fill=0)
        y += int(size * 1.45)
    return image


def png_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims `width` x `height` pixels, followed by a tiny IDAT: decoding it
    would need width*height bytes, which is what the dimension cap must refuse to try."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        body = tag + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def docx_bytes() -> bytes:
    """Title, two heading levels, body paragraphs, a bulleted list and a table."""
    import docx

    document = docx.Document()
    document.core_properties.title = "Cell Biology Notes"
    document.add_heading("Cell Biology", level=1)
    document.add_paragraph("Cells are the basic unit of life. Every organism is made of cells.")
    document.add_heading("Mitochondria", level=2)
    document.add_paragraph("Mitochondria produce ATP through cellular respiration.")
    document.add_paragraph("They have their own DNA.", style="List Bullet")
    document.add_heading("Chloroplasts", level=2)
    document.add_paragraph("Chloroplasts capture light energy during photosynthesis.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Organelle"
    table.cell(0, 1).text = "Function"
    table.cell(1, 0).text = "Ribosome"
    table.cell(1, 1).text = "Protein synthesis"
    document.add_heading("Genetics", level=1)
    document.add_paragraph("Genes are segments of DNA that encode proteins.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def pptx_bytes() -> bytes:
    """Three slides: title + bullets, title + bullets + speaker notes, and one without a title."""
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Plate Tectonics"
    slide.placeholders[1].text_frame.text = "Earth's crust is split into moving plates."
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Earthquakes"
    body = slide.placeholders[1].text_frame
    body.text = "Earthquakes happen where plates meet."
    body.add_paragraph().text = "The Richter scale measures magnitude."
    slide.notes_slide.notes_text_frame.text = "Mention the 1906 San Francisco earthquake."
    slide = deck.slides.add_slide(deck.slide_layouts[6])
    box = slide.shapes.add_textbox(Inches(1), Inches(1), Inches(6), Inches(2))
    box.text_frame.text = "Volcanoes form at subduction zones."
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def rezip(data: bytes, extra: dict[str, bytes], *, level: int = 9) -> bytes:
    """`data` (a ZIP) with `extra` members appended, compressed at `level`."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as target,
    ):
        for info in source.infolist():
            target.writestr(info, source.read(info))
        for name, payload in extra.items():
            target.writestr(zipfile.ZipInfo(name), payload, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


HTML_PAGE = b"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Volcano Guide</title>
<style>body { color: red; } .secretstyle { }</style>
<script>var trackingScriptNoise = "do not index me";</script></head>
<body>
<header><a href="/">Home</a> <a href="/shop">Shop</a></header>
<nav><ul><li><a href="/a">Navigation Alpha</a></li>
<li><a href="/b">Navigation Beta</a></li></ul></nav>
<main>
<article>
<h1>Volcanoes</h1>
<p>A volcano is an opening in the crust where <b>magma</b> escapes.</p>
<h2>Types</h2>
<p>Shield volcanoes have gentle slopes.</p>
<ul><li>Stratovolcanoes are steep.</li><li>Cinder cones are small.</li></ul>
<h2>Hazards</h2>
<p>Pyroclastic flows are fast and deadly.</p>
<table><tr><th>Volcano</th><th>Country</th></tr><tr><td>Etna</td><td>Italy</td></tr></table>
</article>
</main>
<aside>Sidebar advertisement noise</aside>
<footer>Copyright footer noise</footer>
<script>console.log("more script noise")</script>
</body></html>
"""

MARKDOWN_DOC = """---
title: Front matter is metadata
---
# Astronomy

Stars are balls of hot gas.

## The Sun

The Sun is a G-type main-sequence star.
It is about 4.6 billion years old.

- It fuses hydrogen into helium.
- Its light takes eight minutes to reach Earth.

```python
# not a heading: inside a code fence
print("sun")
```

## Planets

Planets orbit stars.

### Jupiter

Jupiter is the largest planet.
"""

HARVARD_SENTENCES = [
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It is easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
]


def long_pdf(pages: int) -> bytes:
    """`pages` text pages of about 300 words each, for throughput measurements."""
    lines = textwrap.wrap(" ".join(HARVARD_SENTENCES * 8), 90)
    return pdf_bytes([[f"Page {n + 1}", "", *lines] for n in range(pages)])


def transcode(wav: bytes, container: str, codec: str, rate: int = 16_000) -> bytes:
    """Re-encode a WAV recording with PyAV (FFmpeg), e.g. ("mp3", "libmp3lame"),
    ("ogg", "libopus"), ("flac", "flac"), ("ipod", "aac") for M4A."""
    import av

    out = io.BytesIO()
    with av.open(io.BytesIO(wav)) as source, av.open(out, "w", format=container) as target:
        stream = target.add_stream(codec, rate=48_000 if codec == "libopus" else rate)
        stream.layout = "mono"
        resampler = av.AudioResampler(
            format=stream.codec_context.codec.audio_formats[0].name,
            layout="mono",
            rate=stream.rate,
        )
        for frame in source.decode(audio=0):
            for converted in resampler.resample(frame):
                target.mux(stream.encode(converted))
        for converted in resampler.resample(None):
            target.mux(stream.encode(converted))
        target.mux(stream.encode(None))
    return out.getvalue()
