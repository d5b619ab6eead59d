"""Chunking: exact offsets, budget, overlap, and boundaries that are never crossed."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learningtool.ingestion import Extracted, Kind, chunk, count_tokens, extract
from learningtool.ingestion.document import HeadingStack, TextBuilder
from tests.ingestion import builders
from tests.ingestion.invariants import check_chunks, check_extracted, extract_checked

SENTENCE = "The quick brown fox jumps over the lazy dog near the riverbank."


def test_count_tokens_is_a_documented_approximation() -> None:
    assert count_tokens("") == 0
    assert count_tokens("cat sat") == 2
    assert count_tokens("photosynthesis") == 3  # ceil(14 / 5)
    assert count_tokens("Hello, world!") == 4
    assert count_tokens("光合作用") == 4  # one per CJK character
    assert count_tokens(SENTENCE) == 14


def test_long_section_is_split_with_overlap_inside_the_section() -> None:
    body = "\n\n".join(" ".join([SENTENCE] * 4) for _ in range(12))  # 12 paragraphs, ~670 tok
    extracted = extract(f"# Foxes\n\n{body}\n\n# Dogs\n\nDogs bark.".encode(), Kind.MARKDOWN)
    chunks = chunk(extracted, max_tokens=200, overlap_tokens=30)
    check_chunks(extracted, chunks, 200)
    foxes = [c for c in chunks if c.heading_path == ("Foxes",)]
    assert len(foxes) >= 4
    assert foxes[0].text.startswith("# Foxes")
    for before, after in itertools.pairwise(foxes):
        assert after.start_char < before.end_char  # overlap...
        overlap = extracted.text[after.start_char : before.end_char]
        assert 0 < count_tokens(overlap) <= 30  # ...of at most the overlap budget
    dogs = [c for c in chunks if c.heading_path == ("Dogs",)]
    assert len(dogs) == 1 and dogs[0].start_char >= foxes[-1].end_char  # no overlap across


def test_chunks_end_at_paragraphs_when_they_can() -> None:
    paragraphs = [" ".join([SENTENCE] * 3) for _ in range(10)]  # 42 tokens each
    extracted = extract("\n\n".join(paragraphs).encode(), Kind.TEXT)
    chunks = chunk(extracted, max_tokens=100, overlap_tokens=0)
    check_chunks(extracted, chunks, 100)
    assert all(c.text.endswith(".") and c.token_count == 84 for c in chunks)


def test_never_across_pages_even_when_small() -> None:
    data = builders.pdf_bytes([[f"Short page {n}."] for n in range(1, 6)])
    extracted = extract(data, Kind.PDF, ocr=None)
    chunks = extract_checked(extracted)
    assert [c.page for c in chunks] == [1, 2, 3, 4, 5]


def test_many_pages_pdf_chunks_stay_on_their_page() -> None:
    extracted = extract(builders.long_pdf(12), Kind.PDF, ocr=None)
    chunks = extract_checked(extracted, max_tokens=120)
    assert {c.page for c in chunks} == set(range(1, 13))
    assert all(c.token_count <= 120 for c in chunks)


def test_heading_followed_by_subheading_is_one_chunk() -> None:
    extracted = extract(b"# Part\n\n## Chapter\n\nText of the chapter.", Kind.MARKDOWN)
    (only,) = extract_checked(extracted)
    assert only.text == "# Part\n\n## Chapter\n\nText of the chapter."
    assert only.heading_path == ("Part", "Chapter")


def test_giant_word_and_cjk_are_split_within_budget() -> None:
    builder = TextBuilder()
    builder.add("x" * 5_000)
    builder.add("光合作用" * 300)
    extracted = builder.build(Kind.TEXT)
    chunks = chunk(extracted, max_tokens=100, overlap_tokens=10)
    check_chunks(extracted, chunks, 100)
    assert len(chunks) >= 10 + 12  # 500 x's or 100 CJK characters make 100 tokens


def test_audio_chunks_carry_time_ranges() -> None:
    builder = TextBuilder()
    for n in range(30):
        builder.add(
            f"Segment {n} says something about rivers and lakes.",
            separator="\n",
            audio_start=n * 3.0,
            audio_end=n * 3.0 + 2.5,
        )
    extracted = builder.build(Kind.WAV)
    chunks = chunk(extracted, max_tokens=60, overlap_tokens=15)  # a segment is 12 tokens
    check_chunks(extracted, chunks, 60)
    assert chunks[0].audio_start == 0.0
    assert chunks[-1].audio_end == 29 * 3.0 + 2.5
    for item in chunks:
        first = int(item.text.split()[1])
        assert item.audio_start == first * 3.0
    assert all(b.audio_start < a.audio_end for a, b in itertools.pairwise(chunks))


def test_parameters_are_validated() -> None:
    extracted = extract(b"text", Kind.TEXT)
    with pytest.raises(ValueError):
        chunk(extracted, max_tokens=4)
    with pytest.raises(ValueError):
        chunk(extracted, max_tokens=100, overlap_tokens=60)


_words = st.sampled_from(
    ["alpha", "beta", "gamma", "photosynthesis", "x", "光合", "end.", "stop!", "a,b", "\n"]
)
_block = st.lists(_words, min_size=1, max_size=120).map(" ".join)
_item = st.tuples(
    st.sampled_from(["heading", "body", "body", "body"]),
    st.integers(min_value=1, max_value=3),  # heading level
    st.integers(min_value=1, max_value=3),  # page
    _block,
)


@settings(max_examples=150, deadline=None)
@given(
    items=st.lists(_item, min_size=1, max_size=25),
    max_tokens=st.integers(min_value=8, max_value=200),
    overlap_share=st.floats(min_value=0, max_value=0.5),
)
def test_invariants_hold_for_any_structure(
    items: list[tuple[str, int, int, str]], max_tokens: int, overlap_share: float
) -> None:
    builder = TextBuilder()
    stack = HeadingStack()
    page = 1
    for role, level, page_step, text in items:
        page = max(page, page_step)  # pages only move forward
        if role == "heading":
            builder.heading(level, text, stack, page=page)
        else:
            builder.add(text, page=page, heading_path=stack.path)
    extracted: Extracted = builder.build(Kind.PDF)
    check_extracted(extracted)
    chunks = chunk(extracted, max_tokens=max_tokens, overlap_tokens=int(max_tokens * overlap_share))
    check_chunks(extracted, chunks, max_tokens)
    assert (
        chunk(extracted, max_tokens=max_tokens, overlap_tokens=int(max_tokens * overlap_share))
        == chunks
    )  # deterministic
