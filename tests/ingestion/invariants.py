"""Invariants every extraction and every chunking must satisfy, checked by most tests."""

from __future__ import annotations

from learningtool.ingestion import Chunk, Extracted, chunk


def check_extracted(extracted: Extracted) -> None:
    """Segments are ordered, disjoint, non-empty blocks with no outer white space, and only
    white space lies between them."""
    previous_end = 0
    for segment in extracted.segments:
        block = extracted.text[segment.start : segment.end]
        assert block and block == block.strip(), segment
        assert segment.start >= previous_end, segment
        assert not extracted.text[previous_end : segment.start].strip(), segment
        previous_end = segment.end
    assert previous_end == len(extracted.text)


def check_chunks(extracted: Extracted, chunks: list[Chunk], max_tokens: int) -> None:
    """Exact slices, numbered in order, each inside one page/slide/heading section, and
    within the budget (a single over-long unit is split, so no chunk may exceed it)."""
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    covered = set()
    for item in chunks:
        assert extracted.text[item.start_char : item.end_char] == item.text
        assert item.text and item.token_count <= max_tokens, item
        inside = [
            s for s in extracted.segments if s.start < item.end_char and s.end > item.start_char
        ]
        assert {(s.page, s.slide) for s in inside} == {(item.page, item.slide)}, item
        assert item.heading_path == inside[-1].heading_path, item
        covered.update(range(item.start_char, item.end_char))
    for segment in extracted.segments:  # no block is lost
        assert segment.start in covered and segment.end - 1 in covered


def extract_checked(extracted: Extracted, max_tokens: int = 320) -> list[Chunk]:
    check_extracted(extracted)
    chunks = chunk(extracted, max_tokens=max_tokens, overlap_tokens=max_tokens * 15 // 100)
    check_chunks(extracted, chunks, max_tokens)
    return chunks
