"""Study material never teaches boilerplate: a PDF's reference list and its footer, URLs,
research-report scaffolding, OCR of a diagram. The text goes the real way: a PDF built
here, extracted and chunked by the ingestion core, cut into sections by the study job."""

from __future__ import annotations

from learningtool.ingestion.chunk import chunk
from learningtool.ingestion.document import Kind
from learningtool.ingestion.extract import extract
from learningtool.study.engine import offline_drafts
from learningtool.study.offline import learnable_answer
from learningtool.study.tasks import sections_of
from learningtool.text import boilerplate
from tests.ingestion.builders import pdf_bytes

FOOTER = "Retrieved from https://en.example.org/wiki/Photosynthesis - Encyclopedia of Plants"
# A footer that is a proper sentence about the subject: only its repetition gives it away.
EDITED = "This photosynthesis page was last edited on 3 May 2020 by the plant biology team."
BODY = [
    [
        "Photosynthesis",
        "",
        "Photosynthesis is the process by which green plants turn light energy into",
        "chemical energy. The light reactions take place in the thylakoid membranes of the",
        "chloroplast, where chlorophyll absorbs red and blue light. Water is split during",
        "these reactions and oxygen is released as a by-product.",
    ],
    [
        "The Calvin cycle",
        "",
        "The Calvin cycle fixes carbon dioxide into sugars in the stroma of the chloroplast.",
        "The enzyme RuBisCO catalyses the first step of the Calvin cycle. Each turn of the",
        "cycle consumes ATP and NADPH made by the light reactions.",
    ],
    [
        "References",
        "",
        'Hill, Robert; Bendall, Fay (1960). "Function of the two cytochrome components in',
        'chloroplasts". Nature. 186 (4719): 136-137. doi:10.1038/186136a0.',
        'Calvin, Melvin et al. (1950). "The path of carbon in photosynthesis". Journal of',
        "Experimental Botany. 1 (1): 1-20. Retrieved 12 May 2020.",
        'Blankenship, Robert E. (2014). "Molecular Mechanisms of Photosynthesis". Wiley.',
        "ISBN 978-1-4051-8975-0.",
    ],
]


def drafts_of(data: bytes, kind: Kind, title: str) -> list:
    extracted = extract(data, kind, ocr=None, asr=None)
    chunks = chunk(extracted, max_tokens=60, overlap_tokens=8)
    rows = [
        (f"c{c.ordinal}", c.start_char, c.end_char, list(c.heading_path), c.page, c.slide)
        for c in chunks
    ]
    return offline_drafts(sections_of(extracted.text, title, rows))


def item_texts(drafts: list) -> list[str]:
    texts = []
    for draft in drafts:
        payload = draft.payload
        if draft.kind == "summary":
            texts += [s["text"] for s in payload["sentences"]]
        elif draft.kind == "qa":
            texts += [payload["question"], payload["answer"]]
        else:
            texts += [payload["front"], payload["back"]]
    return texts


def test_a_pdf_footer_and_reference_list_give_no_study_material() -> None:
    pages = [[*page, "", EDITED, FOOTER, f"Page {number}"] for number, page in enumerate(BODY, 1)]
    drafts = drafts_of(pdf_bytes(pages), Kind.PDF, "Photosynthesis.pdf")

    texts = item_texts(drafts)
    assert any(d.kind == "flashcard" for d in drafts), "the body still makes cards"
    assert any("Calvin cycle" in t for t in texts)
    for text in texts:
        for junk in ("Retrieved", "https", "example.org", "cytochrome", "path of carbon"):
            assert junk not in text, (junk, text)
    summaries = [s["text"] for d in drafts if d.kind == "summary" for s in d.payload["sentences"]]
    assert summaries and not any("last edited" in s for s in summaries)


def test_a_reference_list_alone_gives_no_cards() -> None:
    text = "# Further reading\n\n" + "\n".join(BODY[2][2:]) + "\n"
    drafts = drafts_of(text.encode(), Kind.MARKDOWN, "reading.md")
    assert drafts == []


def test_research_report_scaffolding_and_diagram_text_give_nothing() -> None:
    report = (
        "# How do plants fix carbon?\n\n"
        "*Written without a language model.* This is an extractive report: the sentences "
        "below are quoted from the passages found that share the most words with the "
        "question, each followed by the number of its source.\n\n"
        "## How this was researched\n\n"
        "Three queries over the notebook in one loop; four distinct sources found.\n\n"
        "## Sources\n\n1. Photosynthesis.pdf, page 2.\n"
    )
    assert drafts_of(report.encode(), Kind.MARKDOWN, "report.md") == []
    diagram = "input layer hidden layer output layer network network weights bias neuron neuron"
    assert boilerplate.sentence_reason(diagram) is not None


def test_boilerplate_sentences_are_named_and_prose_is_not() -> None:
    assert boilerplate.sentence_reason("See https://example.org/page for more.") == "url"
    assert boilerplate.sentence_reason('Smith, J. (2019). "A title". Press.') == "citation"
    assert boilerplate.sentence_reason(
        "Everyone is permitted to copy and distribute verbatim copies of this document."
    )
    assert boilerplate.sentence_reason("The stroma surrounds the thylakoids.") is None
    assert boilerplate.skipped_section(["Appendix F References"])
    assert boilerplate.skipped_section(["7. Bibliography"])
    assert not boilerplate.skipped_section(["Photosynthesis", "The Calvin cycle"])


def test_cloze_answers_are_terms_not_url_pieces_numbers_or_stop_words() -> None:
    for bad in ("https", "www", "the", "AI", "42", "3.5", "of the"):
        assert not learnable_answer(bad), bad
    for good in ("chlorophyll", "Calvin cycle", "1789", "RuBisCO"):
        assert learnable_answer(good), good


def test_a_verb_is_not_a_cloze_answer() -> None:
    from learningtool.study.offline import _verb_slot

    text = "To protect your rights, you may remove the notices from copies of the chloroplast."
    for verb in ("protect", "remove"):
        start = text.index(verb)
        assert _verb_slot(text, 0, start, verb), verb
    start = text.index("chloroplast")
    assert not _verb_slot(text, 0, start, "chloroplast")
    assert not _verb_slot("Notes go to Git.", 0, 11, "Git")  # a name is no verb
