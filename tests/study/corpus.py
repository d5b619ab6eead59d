"""Textbook-like prose for the study tests, and the evidence checks every item must pass."""

from __future__ import annotations

from itertools import groupby

from learningtool.ingestion import Kind, chunk, extract
from learningtool.study.offline import ChunkRef, Section, Span, StudyMaterial

PHOTOSYNTHESIS = """# Photosynthesis

Photosynthesis is the process by which green plants, algae and some bacteria convert light \
energy into chemical energy. It takes place mainly in the chloroplasts of leaf cells, which \
contain the green pigment chlorophyll. Chlorophyll absorbs mostly blue and red light, e.g. \
wavelengths near 430 nm and 662 nm, and reflects green light. That is why leaves look green \
to us.

The light-dependent reactions occur in the thylakoid membranes of the chloroplast. During \
these reactions, water molecules are split and oxygen is released as a by-product. The energy \
captured from light is stored in two carrier molecules, ATP and NADPH. The Calvin cycle, which \
is also called the light-independent reactions, takes place in the stroma. The Calvin cycle \
uses ATP and NADPH to fix carbon dioxide into three-carbon sugars.

The rate of photosynthesis depends on light intensity, temperature and the concentration of \
carbon dioxide. A limiting factor is the factor that is in shortest supply and therefore \
restricts the rate of the whole process. Dr. Blackman described limiting factors in 1905 (see \
Fig. 2 for his results). At about 25.5 degrees Celsius most temperate plants photosynthesise \
fastest.
"""

CELLS = """# The cell

Cells are the basic structural and functional units of all living organisms. Robert Hooke \
first described cells in 1665 after looking at thin slices of cork through a microscope. \
Prokaryotic cells, such as bacteria, lack a nucleus and membrane-bound organelles. Eukaryotic \
cells, i.e. the cells of animals, plants and fungi, keep their DNA inside a nucleus.

Mitochondria are membrane-bound organelles that produce most of the cell's ATP through \
cellular respiration. The cell membrane is a phospholipid bilayer that controls what enters \
and leaves the cell. Osmosis refers to the movement of water across a semi-permeable membrane \
from a region of low solute concentration to a region of high solute concentration. Diffusion \
means the net movement of particles from an area of higher concentration to an area of lower \
concentration.

The cytoskeleton consists of protein filaments that give the cell its shape and help it move. \
Ribosomes, which are the sites of protein synthesis, are found both free in the cytoplasm and \
attached to the rough endoplasmic reticulum. A tissue is defined as a group of similar cells \
that perform a specific function.
"""

REVOLUTION = """# The French Revolution

The French Revolution was a period of political and social upheaval in France that began in \
1789 and ended in 1799. Years of poor harvests, rising bread prices and an enormous public \
debt had left the monarchy of Louis XVI close to bankruptcy. In May 1789 the king summoned the \
Estates-General, an assembly that had not met since 1614.

The Third Estate, which represented about 98 percent of the population, broke away and \
declared itself the National Assembly. On 14 July 1789 a crowd in Paris stormed the Bastille, \
a royal fortress and prison that had become a symbol of royal tyranny. In August the National \
Assembly abolished feudal privileges and adopted the Declaration of the Rights of Man and of \
the Citizen.

The Reign of Terror refers to the period between 1793 and 1794 when the Committee of Public \
Safety, led by Maximilien Robespierre, executed thousands of suspected enemies of the \
revolution. Robespierre himself was arrested and guillotined in July 1794. The Directory \
governed France from 1795 until Napoleon Bonaparte seized power in the coup of 18 Brumaire in \
1799.
"""

DOCUMENT = "\n".join([PHOTOSYNTHESIS, CELLS, REVOLUTION])


def sections_of(
    markdown: str, *, max_tokens: int = 120, overlap: int = 24
) -> tuple[str, list[Section]]:
    """The real pipeline: extract the Markdown, chunk it (small, overlapping chunks), and
    group consecutive chunks that share a heading path into sections."""
    extracted = extract(markdown.encode(), Kind.MARKDOWN)
    chunks = chunk(extracted, max_tokens=max_tokens, overlap_tokens=overlap)
    sections = []
    for path, group in groupby(chunks, key=lambda c: c.heading_path):
        refs = [ChunkRef(f"chunk-{c.ordinal}", c.start_char, c.end_char) for c in group]
        sections.append(
            Section.from_chunks(extracted.text, refs, title="Biology", heading_path=path)
        )
    return extracted.text, sections


def check_span(source: str, section: Section, span: Span) -> None:
    """The span is exact evidence inside the chunk it names."""
    assert source[span.start_char : span.end_char] == span.text
    assert span.text and span.text == span.text.strip()
    chunk_ = {c.chunk_id: c for c in section.chunks}[span.chunk_id]
    assert chunk_.start_char <= span.start_char < span.end_char <= chunk_.end_char


def check_material(source: str, section: Section, material: StudyMaterial) -> None:
    for span in material.summary.sentences:
        check_span(source, section, span)
    for point in material.summary.key_points:
        check_span(source, section, point.span)
        check_span(source, section, point.sentence)
        assert point.phrase == point.span.text
        assert _inside(point.span, point.sentence)
    for card in material.flashcards:
        check_span(source, section, card.answer_span)
        check_span(source, section, card.context_span)
        assert card.back == card.answer_span.text
        assert card.answer_span.chunk_id == card.context_span.chunk_id
        assert _inside(card.answer_span, card.context_span)
        assert card.back.lower() not in card.front.lower()
        assert "[...]" in card.front
    for pair in material.qa_pairs:
        check_span(source, section, pair.answer_span)
        check_span(source, section, pair.context_span)
        assert pair.answer == pair.answer_span.text
        assert _inside(pair.answer_span, pair.context_span)
        assert pair.question.endswith("?")


def _inside(inner: Span, outer: Span) -> bool:
    return outer.start_char <= inner.start_char and inner.end_char <= outer.end_char
