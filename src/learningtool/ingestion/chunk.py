"""Structure-following chunking within a token budget. Pure functions, no I/O.

A chunk is always an exact slice of the extracted text (`text[start_char:end_char]`), so a
citation can point at it, highlight it and survive re-chunking. Chunks never cross a page,
a slide or a heading (each has one page/slide/heading path, which retrieval and citations
show); within a section they prefer to end at a paragraph, else at a sentence, else at a
line or a word, and consecutive chunks of a section overlap by about 15% (whole sentences)
so a fact split across a boundary is still found whole in one of them. A heading directly
followed by its own subheading stays with it, instead of becoming a chunk of one line.

Tokens are approximated, deterministically and without a model's vocabulary: a run of
letters/digits counts ceil(len/5) (about 1.3 per English word, close to BPE tokenizers), each
CJK character and each punctuation mark counts 1. The default budget of 320 with 48 overlap
sits in the usual 300-400 range; note that all-MiniLM-L6-v2 reads only its first 256
word-pieces, so a service embedding with it may want `max_tokens=240`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from learningtool.ingestion.document import Extracted, Segment

DEFAULT_MAX_TOKENS = 320
DEFAULT_OVERLAP_TOKENS = 48
PARAGRAPH_CUT_MIN_FILL = 0.5  # cut at a paragraph end only if the chunk is this full

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_WORD = re.compile(rf"[^\W{_CJK}]+")
_SINGLE = re.compile(rf"[{_CJK}]|[^\w\s]")
# One match per token: a run of letters/digits matches in pieces of up to 5 (ceil(len/5)),
# a CJK character or a punctuation mark matches alone. Same count as the two patterns above.
_TOKEN = re.compile(rf"[^\W{_CJK}]{{1,5}}|[{_CJK}]|[^\w\s]")
_SPLITTERS = (  # group 1 is the gap between two pieces
    re.compile(r"[.!?\u3002\uff01\uff1f\u2026][\"'\u201d\u2019)\]]*(\s+)"),  # sentences
    re.compile(r"(\s*\n\s*)"),  # lines
    re.compile(r"(\s+)"),  # words
)


def count_tokens(text: str) -> int:
    """The approximate token count described in the module docstring."""
    return len(_TOKEN.findall(text))


@dataclass(frozen=True, slots=True)
class Chunk:
    ordinal: int
    text: str
    start_char: int
    end_char: int
    page: int | None
    slide: int | None
    heading_path: tuple[str, ...]
    audio_start: float | None
    audio_end: float | None
    token_count: int


@dataclass(slots=True)
class _Section:
    page: int | None
    slide: int | None
    heading_path: tuple[str, ...]
    segments: list[Segment] = field(default_factory=list)

    @property
    def heading_only(self) -> bool:
        return all(segment.role == "heading" for segment in self.segments)


@dataclass(frozen=True, slots=True)
class _Unit:
    start: int
    end: int
    tokens: int
    opens_block: bool
    heading_path: tuple[str, ...]
    audio_start: float | None
    audio_end: float | None
    exact: bool  # its tokens add up with its neighbours' (not a slice of an enormous word)


def chunk(
    extracted: Extracted,
    *,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS,
) -> list[Chunk]:
    """Chunks of `extracted.text`, in order, numbered from 0."""
    return chunk_segments(
        extracted.text, extracted.segments, max_tokens=max_tokens, overlap_tokens=overlap_tokens
    )


def chunk_segments(
    text: str,
    segments: tuple[Segment, ...] | list[Segment],
    *,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS,
) -> list[Chunk]:
    if max_tokens < 8 or not 0 <= overlap_tokens <= max_tokens // 2:
        raise ValueError("max_tokens must be >= 8 and overlap_tokens within [0, max_tokens/2]")
    chunks: list[Chunk] = []
    for section in _sections(segments):
        units = [unit for seg in section.segments for unit in _units(text, seg, max_tokens)]
        for first, last in _pack(units, max_tokens, overlap_tokens):
            start, end = units[first].start, units[last].end
            starts = [u.audio_start for u in units[first : last + 1] if u.audio_start is not None]
            ends = [u.audio_end for u in units[first : last + 1] if u.audio_end is not None]
            body = text[start:end]
            chunks.append(
                Chunk(
                    ordinal=len(chunks),
                    text=body,
                    start_char=start,
                    end_char=end,
                    page=section.page,
                    slide=section.slide,
                    heading_path=units[last].heading_path,  # differs in a merged section
                    audio_start=min(starts) if starts else None,
                    audio_end=max(ends) if ends else None,
                    token_count=(
                        sum(u.tokens for u in units[first : last + 1])
                        if all(u.exact for u in units[first : last + 1])
                        else count_tokens(body)
                    ),
                )
            )
    return chunks


def _sections(segments: tuple[Segment, ...] | list[Segment]) -> list[_Section]:
    """Runs of segments sharing page, slide and heading path; every heading opens a run,
    except a heading that directly follows its parent heading (same page and slide)."""
    sections: list[_Section] = []
    for segment in segments:
        current = sections[-1] if sections else None
        same_place = current is not None and (current.page, current.slide) == (
            segment.page,
            segment.slide,
        )
        if (
            current is not None
            and same_place
            and segment.role == "heading"
            and current.heading_only
            and len(segment.heading_path) > len(current.heading_path)
            and segment.heading_path[: len(current.heading_path)] == current.heading_path
        ):
            current.segments.append(segment)
            current.heading_path = segment.heading_path
        elif (
            current is None
            or not same_place
            or segment.role == "heading"
            or segment.heading_path != current.heading_path
        ):
            sections.append(_Section(segment.page, segment.slide, segment.heading_path, [segment]))
        else:
            current.segments.append(segment)
    return sections


def _units(text: str, segment: Segment, max_tokens: int) -> list[_Unit]:
    """The segment's sentences (finer pieces - lines, words, characters - for a sentence that
    alone is over budget). Sentences, not whole paragraphs, so that the overlap can carry
    the last sentence or two; `opens_block` marks where a paragraph may end a chunk."""
    spans = _split(text, segment.start, segment.end, max_tokens, 0, force=True)
    return [
        _Unit(
            start,
            end,
            tokens,
            index == 0,
            segment.heading_path,
            segment.audio_start,
            segment.audio_end,
            exact,
        )
        for index, (start, end, tokens, exact) in enumerate(spans)
    ]


def _split(
    text: str, start: int, end: int, max_tokens: int, level: int, *, force: bool = False
) -> list[tuple[int, int, int, bool]]:
    """(start, end, tokens, exact) of each piece."""
    if not force:
        tokens = count_tokens(text[start:end])
        if tokens <= max_tokens:
            return [(start, end, tokens, True)]
    if level == len(_SPLITTERS):  # one enormous "word": windows of max_tokens characters
        return [
            (s, e, count_tokens(text[s:e]), False)
            for s in range(start, end, max_tokens)
            for e in (min(s + max_tokens, end),)
        ]
    spans: list[tuple[int, int, int, bool]] = []
    position = start
    for match in _SPLITTERS[level].finditer(text, start, end):
        if match.start(1) > position:
            spans.extend(_split(text, position, match.start(1), max_tokens, level + 1))
        position = match.end(1)
    if position < end:
        spans.extend(_split(text, position, end, max_tokens, level + 1))
    return spans


def _pack(units: list[_Unit], max_tokens: int, overlap_tokens: int) -> list[tuple[int, int]]:
    """(first, last) unit indices of each chunk: greedy up to the budget, cut preferably where
    a block (paragraph) begins, then step back over whole trailing units for the overlap."""
    ranges: list[tuple[int, int]] = []
    first = 0
    while first < len(units):
        total = units[first].tokens
        after = first + 1  # one past the last unit taken
        while after < len(units) and total + units[after].tokens <= max_tokens:
            total += units[after].tokens
            after += 1
        if after < len(units):
            filled = 0
            best = None
            for index in range(first, after):
                if (
                    index > first
                    and units[index].opens_block
                    and filled >= (PARAGRAPH_CUT_MIN_FILL * max_tokens)
                ):
                    best = index
                filled += units[index].tokens
            after = best or after
        ranges.append((first, after - 1))
        if after >= len(units):
            break
        back, carried = after, 0
        while back - 1 > first and carried + units[back - 1].tokens <= overlap_tokens:
            back -= 1
            carried += units[back].tokens
        first = back
    return ranges
