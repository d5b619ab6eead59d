"""Documents for benches, built with public libraries (pypdf, Pillow): text PDFs, scanned
PDFs and the page images of a scan.

The benches' own builders, not the tests': a bench measures the service on documents that
must not change when a test helper does, and benches do not import test code.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

A4 = (595, 842)  # points
HELVETICA = DictionaryObject(
    {
        NameObject("/Type"): NameObject("/Font"),
        NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica"),
        NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
    }
)


def text_pdf(pages: Sequence[Sequence[str]], *, title: str) -> bytes:
    """A4 pages of text in the base-14 Helvetica, one `Tj` per line (an empty string is a
    blank line), content streams left uncompressed."""
    writer = PdfWriter()
    for lines in pages:
        page = writer.add_blank_page(*A4)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): HELVETICA})}
        )
        ops = ["BT /F1 12 Tf 16 TL 72 770 Td"]
        ops += [f"({_escape(line)}) Tj T*" if line else "T*" for line in lines]
        ops.append("ET")
        content = DecodedStreamObject()
        content.set_data("\n".join(ops).encode("cp1252", "replace"))
        page.replace_contents(content)
    writer.add_metadata({"/Title": title})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def scanned_pdf(images: Sequence[Image.Image], *, title: str) -> bytes:
    """One grayscale image per page and no text layer at all, like a scanner's output; the
    images' width fills an A4 page."""
    gray = [image.convert("L") for image in images]
    out = io.BytesIO()
    dpi = gray[0].width / (A4[0] / 72)
    gray[0].save(
        out, format="PDF", save_all=True, append_images=gray[1:], resolution=dpi, title=title
    )
    return out.getvalue()


def text_image(paragraphs: Sequence[str], *, width: int = 1240, size: int = 28) -> Image.Image:
    """Black text on white, wrapped, a blank line between paragraphs: a clean scanned page."""
    font = ImageFont.load_default(size=size)
    step = int(size * 1.45)
    lines = [
        line
        for paragraph in paragraphs
        for line in [*textwrap.wrap(paragraph, width=int(width / (size * 0.55))), ""]
    ]
    image = Image.new("L", (width, 80 + len(lines) * step), 255)
    draw = ImageDraw.Draw(image)
    for number, line in enumerate(lines):
        draw.text((60, 40 + number * step), line, font=font, fill=0)
    return image


def _escape(line: str) -> str:
    return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
