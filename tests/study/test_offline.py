"""The offline engine: every item is exact evidence from its chunk, cards are not trivial,
definitions become Q&A, and the output is deterministic."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learningtool.study.offline import (
    ChunkRef,
    Options,
    Section,
    generate,
    summarize,
)
from learningtool.text.sentences import split_sentences
from tests.study.corpus import (
    CELLS,
    DOCUMENT,
    PHOTOSYNTHESIS,
    REVOLUTION,
    check_material,
    sections_of,
)


def whole(text: str) -> Section:
    return Section.from_chunks(text, [ChunkRef("only", 0, len(text))])


def test_every_item_is_verbatim_evidence_inside_its_chunk() -> None:
    source, sections = sections_of(DOCUMENT)
    assert len(sections) == 3
    assert all(len(section.chunks) >= 2 for section in sections)  # overlapping chunks
    totals = {"summary": 0, "cards": 0, "qa": 0}
    for section in sections:
        material = generate(section)
        check_material(source, section, material)
        totals["summary"] += len(material.summary.sentences)
        totals["cards"] += len(material.flashcards)
        totals["qa"] += len(material.qa_pairs)
    assert totals["summary"] >= 6 and totals["cards"] >= 10 and totals["qa"] >= 8


@pytest.mark.parametrize("text", [PHOTOSYNTHESIS, CELLS, REVOLUTION])
def test_summary_is_two_to_five_central_sentences_in_document_order(text: str) -> None:
    summary = summarize(whole(text))
    assert 2 <= len(summary.sentences) <= 5
    starts = [span.start_char for span in summary.sentences]
    assert starts == sorted(starts)
    assert not any(span.text.startswith("#") for span in summary.sentences)  # no headings
    assert 3 <= len(summary.key_points) <= 8
    assert summary.text.startswith(summary.sentences[0].text.split()[0])


def test_summary_and_key_points_pick_what_the_text_is_about() -> None:
    summary = summarize(whole(PHOTOSYNTHESIS))
    assert summary.sentences[0].text.startswith("Photosynthesis is the process")
    phrases = {point.phrase.lower() for point in summary.key_points}
    assert {"photosynthesis", "calvin cycle", "limiting factor"} <= phrases


def test_definitions_become_questions_with_verbatim_answers() -> None:
    pairs = {}
    for text in (PHOTOSYNTHESIS, CELLS, REVOLUTION):
        for pair in generate(whole(text)).qa_pairs:
            pairs[pair.question] = pair
    assert pairs["What is photosynthesis?"].answer.startswith("the process by which green")
    assert pairs["What does osmosis refer to?"].answer.startswith("the movement of water")
    assert pairs["What does diffusion mean?"].pattern == "means"
    assert pairs["What is a tissue?"].answer == (
        "a group of similar cells that perform a specific function"
    )
    assert pairs["What does the cytoskeleton consist of?"].pattern == "consists_of"
    assert pairs["What are ribosomes?"].answer == "the sites of protein synthesis"
    assert pairs["What else is the Calvin cycle called?"].answer == (
        "the light-independent reactions"
    )
    assert pairs["What was the French Revolution?"].answer.endswith("ended in 1799")
    assert pairs["What are mitochondria?"].pattern == "are"
    # "That is why leaves look green" and "It takes place ..." are not definitions
    assert not any(q.startswith(("What is that", "What is it")) for q in pairs)


def test_cloze_cards_blank_a_key_phrase() -> None:
    cards = generate(whole(CELLS)).flashcards
    backs = {card.back for card in cards}
    assert "cell membrane" in backs  # the longer term wins over "cell"
    assert "cytoskeleton" in backs
    for card in cards:
        assert card.front.count("[...]") >= 1
        assert not card.back.isdigit()
        assert not card.front.lower().startswith(("it ", "this ", "that ", "they "))
    assert len(backs) == len(cards)  # one card per answer


def test_cards_need_no_sentence_before_them_and_never_blank_the_speaker() -> None:
    """From the Git FAQ: "All of these [...] in an encrypted store" points back to what it
    lists, "I've made a [change]" asks about the asker. Neither is a card; the plain
    statement before them is."""
    text = (
        "Credential helpers keep passwords for Git. All of these helpers store credentials "
        "in an encrypted store to keep your passwords secure. I\u2019ve made a change with a bug "
        "and it has been included in the main branch. A squash merge applies the changes "
        "from one side as a regular commit to the other side without a merge commit."
    )
    cards = generate(whole(text), Options(max_flashcards=10)).flashcards
    fronts = [card.front for card in cards]
    assert fronts and not any(front.startswith(("All of these", "I")) for front in fronts)
    assert any("keep passwords for Git" in front for front in fronts), fronts


def test_no_answer_is_a_negation_or_a_piece_of_a_windows_path() -> None:
    text = (
        "The editor is configured as C:\\Program Files\\Vim\\gvim.exe on many machines. "
        "If the file changes during a checkout, Git doesn\u2019t know whether the changes "
        "to the file are precious and should be kept."
    )
    backs = [card.back for card in generate(whole(text), Options(max_flashcards=10)).flashcards]
    assert not any("\u2019t" in back or back == "Program Files" for back in backs), backs


def test_only_years_stand_alone_as_numeric_answers() -> None:
    text = "The treaty was signed in 1648 after thirty years of war in central Europe."
    cards = generate(whole(text), Options(max_flashcards=5)).flashcards
    for card in cards:
        assert not card.back.isdigit() or card.back == "1648"


def test_output_is_deterministic_across_processes() -> None:
    _, sections = sections_of(DOCUMENT)
    here = [generate(section).to_dict() for section in sections]
    assert here == [generate(section).to_dict() for section in sections]
    code = (
        "import json, sys\n"
        "from tests.study.corpus import DOCUMENT, sections_of\n"
        "from learningtool.study.offline import generate\n"
        "_, sections = sections_of(DOCUMENT)\n"
        "json.dump([generate(s).to_dict() for s in sections], sys.stdout)\n"
    )
    for seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env=env,
            check=True,
            cwd=Path(__file__).parents[2],
        )
        assert json.loads(run.stdout) == json.loads(json.dumps(here))


def test_empty_heading_only_and_tiny_sections() -> None:
    empty = generate(Section.from_chunks("", []))
    assert empty.summary.sentences == () and empty.flashcards == () and empty.qa_pairs == ()
    heading = "# Photosynthesis"
    material = generate(whole(heading))
    assert material.summary.sentences == () and material.flashcards == ()
    single = "Photosynthesis is the process by which plants turn light into sugar."
    material = generate(whole(single))
    assert [span.text for span in material.summary.sentences] == [single]
    assert material.qa_pairs[0].question == "What is photosynthesis?"
    check_material(single, whole(single), material)


def test_text_without_definitions_gives_no_qa() -> None:
    text = (
        "During the storm the old bridge over the river collapsed. Rescue teams searched the "
        "water for survivors until late at night. Engineers later blamed rusted steel cables "
        "for the failure of the structure."
    )
    material = generate(whole(text))
    assert material.qa_pairs == ()
    assert material.summary.sentences


def test_a_sentence_cut_by_a_chunk_boundary_yields_nothing() -> None:
    text = "Mitochondria are organelles that produce most of the ATP of a cell."
    section = Section.from_chunks(text, [ChunkRef("a", 0, 30), ChunkRef("b", 30, len(text))])
    material = generate(section)
    assert material.summary.sentences == () and material.qa_pairs == ()


def test_section_rejects_chunks_outside_it() -> None:
    with pytest.raises(ValueError):
        Section("abc", 10, (ChunkRef("x", 0, 5),))


def test_sentence_splitter_keeps_abbreviations_decimals_and_lists() -> None:
    text = (
        "Intro heading\nThe body starts here. See Fig. 2 and Dr. Smith, e.g. at 3.5 kg.\n\n"
        "- first item is here\n- second item\n  continues here\n\n"
        'J. K. Rowling wrote books. The U.S.A. is large. What? "Quoted." Next one.'
    )
    pieces = [(text[s.start : s.end], s.heading) for s in split_sentences(text)]
    assert pieces == [
        ("Intro heading", True),
        ("The body starts here.", False),
        ("See Fig. 2 and Dr. Smith, e.g. at 3.5 kg.", False),
        ("first item is here", False),
        ("second item\n  continues here", False),
        ("J. K. Rowling wrote books.", False),
        ("The U.S.A. is large.", False),
        ("What?", False),
        ('"Quoted."', False),
        ("Next one.", False),
    ]


_WORDS = [
    "the", "cell", "Cells", "membrane", "is", "a", "an", "of", "energy", "Light", "e.g.",
    "Dr.", "3.5", "1789", "refers", "to", "means", "are", "which", "it", "Calvin", "cycle",
    "(see", "Fig.", "2)", "water's", "café", "naïve", "—", "x", "CO2", "well-known",
]  # fmt: skip


@st.composite
def paragraphs(draw: st.DrawFn) -> str:
    blocks = []
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):
            blocks.append(
                "# " + " ".join(draw(st.lists(st.sampled_from(_WORDS), min_size=1, max_size=4)))
            )
        sentences = []
        for _ in range(draw(st.integers(1, 6))):
            words = draw(st.lists(st.sampled_from(_WORDS), min_size=1, max_size=14))
            end = draw(st.sampled_from([".", "!", "?", ".", "", ";"]))
            sentences.append(words[0][:1].upper() + " ".join(words)[1:] + end)
        joiner = draw(st.sampled_from([" ", "\n", "  "]))
        blocks.append(joiner.join(sentences))
    return "\n\n".join(blocks)


@settings(max_examples=60, deadline=None)
@given(paragraphs(), st.integers(8, 60))
def test_property_every_span_slices_exactly_its_text(markdown: str, budget: int) -> None:
    source, sections = sections_of(markdown, max_tokens=budget, overlap=budget // 4)
    for section in sections:
        material = generate(section, Options(max_flashcards=10))
        check_material(source, section, material)
        assert material == generate(section, Options(max_flashcards=10))
