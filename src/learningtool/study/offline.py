"""The offline study engine: summary, cloze flashcards and definition Q&A with no model.

Input is a `Section`: one or more consecutive chunks of a source, as the exact slice of the
source text they cover. Every item produced carries the id of the chunk it came from and a
`Span` in SOURCE coordinates, so `source_text[span.start_char:span.end_char] == span.text`
and the span lies inside that chunk's span: the UI can show and highlight the evidence, and
nothing here can claim text the source does not contain. A sentence that no single chunk
contains whole (a chunk boundary inside it, not covered by the overlap) yields no item.

- Summary: LexRank-style centrality (PageRank over the TF-IDF cosine graph of the section's
  sentences, numpy power iteration) blended with key-phrase coverage and a small bonus for a
  paragraph's opening sentence; 2-5 sentences by length, near-duplicates skipped, shown in
  document order. Key points are the top key phrases (`keyphrases`), each with its sentence.
- Flashcards: cloze cards from the best sentences - the highest-ranked key phrase of the
  sentence is blanked ("[...]"); the answer is the verbatim occurrence. A card is skipped when
  the answer still shows in the front (even inside another word), when it is more than half
  of the sentence, when the sentence opens with a pronoun (no context on its own) or is very
  short or long. A bare number is an answer only when it is a year.
- Q&A: defining sentences ("X is a/an/the Y", "X are Y", "X refers to Y", "X means Y", "X is
  defined as Y", "X consists of Y", "X is called Y", "X, which is Y, ..."): the question is
  built from X, the answer is the verbatim defining part.

Deterministic: no randomness, ties broken by position; same input, same output.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from learningtool.study import keyphrases as kp
from learningtool.study.definitions import Definition, find_definitions
from learningtool.study.ranking import centrality, redundant
from learningtool.text import boilerplate
from learningtool.text.sentences import STOPWORDS, normalize, split_sentences, tokens

BLANK = "[...]"
_YEAR = re.compile(r"1[0-9]{3}|20[0-9]{2}")
_CLEAN_BREAK = re.compile(r"(?:[.!?:][\"'\u201d\u2019)\]]*\s*|\n[ \t]*\n\s*)$")
_IN_TOKEN = re.compile(r"[\w./\\-]")  # next to an answer, these make it part of a longer token
ANAPHORA_WORDS = 3  # a pointing word among a sentence's first words: it needs what came before
# Pointing back after a sentence's first word ("All of these", "Because of this"); not
# "such", "that" or "there", which start a phrase of their own ("cells, such as bacteria").
_POINTING = frozenset("it this these those they them".split())
_ANAPHORIC = frozenset(
    "it its this that these those they their them he she his her such there here both".split()
)


@dataclass(frozen=True, slots=True)
class ChunkRef:
    """A chunk of the source: its id and `[start_char, end_char)` in the source text."""

    chunk_id: str
    start_char: int
    end_char: int


@dataclass(frozen=True, slots=True)
class Section:
    """The text of consecutive chunks: `source_text[start_char:start_char + len(text)]`."""

    text: str
    start_char: int
    chunks: tuple[ChunkRef, ...]
    title: str | None = None
    heading_path: tuple[str, ...] = ()
    skip: tuple[tuple[int, int], ...] = ()  # boilerplate spans (source positions)
    mid_sentence: bool = False  # the text opens inside a sentence (a chunk boundary)
    common: frozenset[str] = frozenset()  # words found all over the source (no cloze answer)

    def __post_init__(self) -> None:
        end = self.start_char + len(self.text)
        for chunk in self.chunks:
            if not self.start_char <= chunk.start_char <= chunk.end_char <= end:
                raise ValueError(f"chunk {chunk.chunk_id} lies outside the section")

    @classmethod
    def from_chunks(
        cls,
        source_text: str,
        chunks: list[ChunkRef] | tuple[ChunkRef, ...],
        *,
        title: str | None = None,
        heading_path: tuple[str, ...] = (),
        skip: Sequence[tuple[int, int]] = (),
    ) -> Section:
        """The section covering `chunks` (overlapping, as the chunker makes them, or not);
        `skip`: boilerplate spans of the source (`boilerplate.spans`), those inside kept."""
        ordered = tuple(sorted(chunks, key=lambda c: (c.start_char, c.end_char, c.chunk_id)))
        if not ordered:
            return cls("", 0, (), title, heading_path)
        start = ordered[0].start_char
        end = max(chunk.end_char for chunk in ordered)
        inside = tuple((s, e) for s, e in skip if s < end and start < e)
        before = source_text[max(0, start - 200) : start]
        mid_sentence = bool(before.strip()) and not _CLEAN_BREAK.search(before)
        return cls(
            source_text[start:end], start, ordered, title, heading_path, inside, mid_sentence
        )


@dataclass(frozen=True, slots=True)
class Span:
    """Evidence: `source_text[start_char:end_char] == text`, inside chunk `chunk_id`."""

    chunk_id: str
    start_char: int
    end_char: int
    text: str


@dataclass(frozen=True, slots=True)
class KeyPoint:
    phrase: str  # verbatim, as first found
    score: float
    span: Span  # that occurrence
    sentence: Span  # the sentence it occurs in


@dataclass(frozen=True, slots=True)
class Summary:
    sentences: tuple[Span, ...]
    key_points: tuple[KeyPoint, ...]

    @property
    def text(self) -> str:
        return " ".join(" ".join(span.text.split()) for span in self.sentences)


@dataclass(frozen=True, slots=True)
class Flashcard:
    """A cloze card: `front` is the sentence with the answer blanked, `back` the answer."""

    front: str
    back: str
    answer_span: Span
    context_span: Span
    score: float


@dataclass(frozen=True, slots=True)
class QaPair:
    question: str
    answer: str
    answer_span: Span
    context_span: Span
    pattern: str  # which defining pattern matched, e.g. "is_a", "refers_to"


@dataclass(frozen=True, slots=True)
class StudyMaterial:
    summary: Summary
    flashcards: tuple[Flashcard, ...]
    qa_pairs: tuple[QaPair, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (for item payloads and for crossing a process boundary as plain data)."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Options:
    min_summary_sentences: int = 2
    max_summary_sentences: int = 5
    max_key_points: int = 8
    max_flashcards: int | None = None  # None: about one per two usable sentences, up to 20
    max_qa_pairs: int = 10
    min_words: int = 5  # shorter sentences are never used
    max_words: int = 80  # longer ones are most likely extraction debris (tables, run-ons)
    max_card_words: int = 45
    centrality_window: int = 400  # sentences per LexRank graph: bounds time on huge sections


@dataclass(slots=True)
class _Sentence:
    start: int  # in section text
    end: int
    chunk: ChunkRef
    paragraph: int
    opens_paragraph: bool
    words: list[tuple[int, int, str]] = field(default_factory=list)
    score: float = 0.0


def generate(section: Section, options: Options | None = None) -> StudyMaterial:
    """Summary, cloze cards and Q&A of one section (analysed once)."""
    options = options or Options()
    sentences = _candidates(section, options)
    definitions = find_definitions(section.text, [(s.start, s.end) for s in sentences])
    phrases = kp.extract(
        section.text,
        [(s.start, s.end) for s in sentences],
        headings=[h for h in (section.title, *section.heading_path) if h],
        defined=[kp.phrase_key(d.term) for d in definitions],
    )
    _score(sentences, phrases, {d.sentence for d in definitions}, options)
    return StudyMaterial(
        summary=_summary(section, sentences, phrases, options),
        flashcards=_flashcards(section, sentences, phrases, options),
        qa_pairs=_qa_pairs(section, sentences, definitions, options),
    )


def summarize(section: Section, options: Options | None = None) -> Summary:
    return generate(section, options).summary


def _candidates(section: Section, options: Options) -> list[_Sentence]:
    result: list[_Sentence] = []
    starts = [chunk.start_char for chunk in section.chunks]
    last_paragraph = -1
    subject = boilerplate.subject_of(section.title)
    for number, sentence in enumerate(split_sentences(section.text)):
        if sentence.heading or (number == 0 and section.mid_sentence):
            continue
        start, end = sentence.start, sentence.end
        body = section.text[start:end]
        absolute = start + section.start_char, end + section.start_char
        if boilerplate.overlaps(*absolute, section.skip) or boilerplate.sentence_reason(body):
            continue
        if boilerplate.opens_mid_sentence(body, subject):
            continue
        words = tokens(section.text, start, end)
        alpha = [w for w in words if any(ch.isalpha() for ch in w[2])]
        letters = sum(ch.isalpha() for ch in body)
        if not options.min_words <= len(alpha) <= options.max_words:
            continue
        if letters < 0.6 * sum(not ch.isspace() for ch in body):
            continue  # tables, formulas, reference lists
        chunk = _chunk_for(section, starts, start, end)
        if chunk is None:
            continue
        opens = sentence.paragraph != last_paragraph
        last_paragraph = sentence.paragraph
        result.append(_Sentence(start, end, chunk, sentence.paragraph, opens, words))
    return result


def _chunk_for(section: Section, starts: list[int], start: int, end: int) -> ChunkRef | None:
    """The first chunk that contains the whole sentence (positions in section text)."""
    absolute_start, absolute_end = start + section.start_char, end + section.start_char
    for chunk in section.chunks[: bisect.bisect_right(starts, absolute_start)]:
        if chunk.end_char >= absolute_end:
            return chunk
    return None


def _score(
    sentences: list[_Sentence],
    phrases: list[kp.KeyPhrase],
    defining: set[int],
    options: Options,
) -> None:
    if not sentences:
        return
    keys = [[normalize(w[2]) for w in s.words if w[2].lower() not in STOPWORDS] for s in sentences]
    central = centrality(keys, window=options.centrality_window)
    coverage = [0.0] * len(sentences)
    for phrase in phrases[:20]:
        for index in {o.sentence for o in phrase.occurrences}:
            coverage[index] += phrase.score
    top_central, top_coverage = max(central) or 1.0, max(coverage) or 1.0
    for index, sentence in enumerate(sentences):
        score = 0.6 * central[index] / top_central + 0.3 * coverage[index] / top_coverage
        score += 0.1 if sentence.opens_paragraph else 0.0
        score += 0.1 if index in defining else 0.0
        if sentence.words[0][2].lower() in _ANAPHORIC:
            score *= 0.8
        if not 8 <= len(sentence.words) <= 45:
            score *= 0.85
        sentence.score = round(score, 9)


def _ranked(sentences: list[_Sentence]) -> list[int]:
    return sorted(range(len(sentences)), key=lambda i: (-sentences[i].score, i))


def _span(section: Section, chunk: ChunkRef, start: int, end: int) -> Span:
    offset = section.start_char
    return Span(chunk.chunk_id, start + offset, end + offset, section.text[start:end])


def _summary(
    section: Section, sentences: list[_Sentence], phrases: list[kp.KeyPhrase], options: Options
) -> Summary:
    count = len(sentences)
    wanted = count  # "2-5 sentences by length": about one in five, within the bounds
    if count > options.min_summary_sentences:
        wanted = max(math.ceil(count / 5), options.min_summary_sentences)
        wanted = min(wanted, options.max_summary_sentences)
    chosen: list[int] = []
    for index in _ranked(sentences):
        if len(chosen) >= wanted:
            break
        words = {normalize(w[2]) for w in sentences[index].words}
        if any(redundant(words, {normalize(w[2]) for w in sentences[c].words}) for c in chosen):
            continue
        chosen.append(index)
    spans = tuple(
        _span(section, sentences[i].chunk, sentences[i].start, sentences[i].end)
        for i in sorted(chosen)
    )
    points = []
    for phrase in phrases[: options.max_key_points]:
        occurrence = phrase.first
        sentence = sentences[occurrence.sentence]
        points.append(
            KeyPoint(
                phrase=section.text[occurrence.start : occurrence.end],
                score=phrase.score,
                span=_span(section, sentence.chunk, occurrence.start, occurrence.end),
                sentence=_span(section, sentence.chunk, sentence.start, sentence.end),
            )
        )
    return Summary(spans, tuple(points))


def _flashcards(
    section: Section, sentences: list[_Sentence], phrases: list[kp.KeyPhrase], options: Options
) -> tuple[Flashcard, ...]:
    limit = options.max_flashcards
    if limit is None:
        limit = min(20, math.ceil(len(sentences) / 2))
    by_sentence: dict[int, list[tuple[int, kp.KeyPhrase]]] = {}
    for rank, phrase in enumerate(phrases):
        for index in sorted({o.sentence for o in phrase.occurrences}):
            by_sentence.setdefault(index, []).append((rank, phrase))
    top = phrases[0].score if phrases else 1.0
    used: set[kp.Key] = set()
    cards: list[tuple[int, Flashcard]] = []
    for index in _ranked(sentences):
        if len(cards) >= limit:
            break
        sentence = sentences[index]
        if _leans_on_what_came_before(sentence):
            continue
        if not 6 <= len(sentence.words) <= options.max_card_words:
            continue
        choices = _answer_choices(index, sentence, by_sentence.get(index, []), top)
        for key, weight, spans in choices:
            if key in used:
                continue
            card = _cloze(section, sentence, spans, weight)
            if card is not None:
                used.add(key)
                cards.append((sentence.start, card))
                break
    return tuple(card for _, card in sorted(cards, key=lambda item: item[0]))


def _leans_on_what_came_before(sentence: _Sentence) -> bool:
    """Does the sentence open by pointing back ("It looks...", "All of these...", "Because
    of this...")? Shown alone on a card, what it points to is missing. A sentence in the
    first person ("I've made a change...") is a FAQ's question restated: its card asks about
    the asker."""
    first = [w.lower() for _, _, w in sentence.words[:ANAPHORA_WORDS]]
    return (
        first[0] in _ANAPHORIC
        or _SPEAKER.match(first[0]) is not None
        or any(w in _POINTING for w in first[1:])
    )


def _answer_choices(
    index: int, sentence: _Sentence, ranked: list[tuple[int, kp.KeyPhrase]], top: float
) -> list[tuple[kp.Key, float, list[tuple[int, int]]]]:
    """Possible answers in the sentence, best first: its key phrases (one that occurs here
    inside a longer key phrase yields to it: "cell" in "cell membrane"), then years."""
    choices = [
        (
            phrase.key,
            phrase.score / top,
            [(o.start, o.end) for o in phrase.occurrences if o.sentence == index],
        )
        for _, phrase in ranked
    ]
    spans = [span for _, _, found in choices for span in found]
    choices = [
        choice
        for choice in choices
        if not any(
            any(s <= a and b <= e and (s, e) != (a, b) for s, e in spans) for a, b in choice[2]
        )
    ]
    choices += [
        (("#year", word), 0.2, [(s, e)]) for s, e, word in sentence.words if _YEAR.fullmatch(word)
    ]
    return choices


def _cloze(
    section: Section, sentence: _Sentence, spans: list[tuple[int, int]], weight: float
) -> Flashcard | None:
    text = section.text
    answer = text[spans[0][0] : spans[0][1]]
    pieces, cursor = [], sentence.start
    for start, end in sorted(spans):
        pieces += [text[cursor:start], BLANK]
        cursor = end
    pieces.append(text[cursor : sentence.end])
    front = " ".join("".join(pieces).split())
    if not learnable_answer(answer) or _inside_token(text, spans[0][0], spans[0][1]):
        return None
    if answer.lower() == boilerplate.subject_of(section.title):
        return None  # "find" in find's manual page: true of every sentence
    if _verb_slot(text, sentence.start, spans[0][0], answer):
        return None  # "To [protect] your rights": a verb tests grammar, not the subject
    rest = front.replace(BLANK, " ").lower()
    answer_words = [normalize(w) for _, _, w in tokens(answer)]
    if len(answer_words) == 1 and answer_words[0] in section.common:
        return None  # a word found all over the source tests nothing specific
    rest_words = {normalize(w) for _, _, w in tokens(rest)}
    if " ".join(answer.split()).lower() in rest or all(w in rest_words for w in answer_words):
        return None  # the answer still shows in the front
    if len(rest_words - STOPWORDS) < 3 or len(answer_words) * 2 > len(sentence.words):
        return None
    return Flashcard(
        front=front,
        back=answer,
        answer_span=_span(section, sentence.chunk, spans[0][0], spans[0][1]),
        context_span=_span(section, sentence.chunk, sentence.start, sentence.end),
        score=round(sentence.score * (0.5 + 0.5 * weight), 6),
    )


# A personal pronoun, a contraction with one ("I've", "we'll") or a negation ("doesn't");
# straight or typeset apostrophe.
_SPEAKER = re.compile(r"\b(?:I|we|you|me|us)\b|['\u2019](?:ve|re|ll|m|d)\b|n['\u2019]t\b", re.I)
_URL_PIECES = frozenset("http https www com org net html htm pdf doi isbn url".split())


def learnable_answer(answer: str) -> bool:
    """A cloze answer worth recalling: a term with at least three letters, not a stop word,
    a piece of a URL or a number (a year is fine), not a single letter or two."""
    words = [w for _, _, w in tokens(answer)]
    if not words:
        return False
    if len(words) == 1 and _YEAR.fullmatch(words[0]):
        return True
    letters = sum(ch.isalpha() for ch in answer)
    lowered = [w.lower() for w in words]
    if _SPEAKER.search(answer):
        return False  # "[I've] made a change": who speaks is not what is learnt
    return (
        letters >= 3
        and not all(w in STOPWORDS or w in _URL_PIECES or w.isdigit() for w in lowered)
        and not (len(words) == 1 and len(words[0]) <= 2)
    )


# Words after which a single lower-case word is a verb: "to [protect]", "you may [remove]".
_VERB_CUES = frozenset(
    "to can could may might must shall should will would you we they i "
    "does do did not also only".split()
)


def _verb_slot(text: str, sentence_start: int, start: int, answer: str) -> bool:
    """Is a one-word, lower-case answer in a verb's place: right after "to", a modal, a
    subject pronoun or a negation?"""
    if len(answer.split()) != 1 or not answer[:1].islower():
        return False
    before = [w.lower() for _, _, w in tokens(text, sentence_start, start)]
    return bool(before) and before[-1] in _VERB_CUES


def _inside_token(text: str, start: int, end: int) -> bool:
    """Is `text[start:end]` part of a longer token ("proj.[git]", "-[P] options",
    "R_PROFILE_[USER]")? A blank there tests spelling, not knowledge. A period or slash
    after the answer is punctuation unless a word goes on after it."""
    before = text[start - 1 : start]
    after, beyond = text[end : end + 1], text[end + 1 : end + 2]
    if before and _IN_TOKEN.match(before):
        return True
    if after in (".", "/"):
        return bool(beyond) and not beyond.isspace()
    return bool(after and _IN_TOKEN.match(after))


def _qa_pairs(
    section: Section,
    sentences: list[_Sentence],
    definitions: list[Definition],
    options: Options,
) -> tuple[QaPair, ...]:
    pairs: list[QaPair] = []
    seen: set[kp.Key] = set()
    for definition in definitions:
        sentence = sentences[definition.sentence]
        key = kp.phrase_key(definition.term)
        if key in seen or sentence.words[0][2].lower() in _ANAPHORIC:
            continue
        seen.add(key)
        pairs.append(
            QaPair(
                question=definition.question,
                answer=section.text[definition.start : definition.end],
                answer_span=_span(section, sentence.chunk, definition.start, definition.end),
                context_span=_span(section, sentence.chunk, sentence.start, sentence.end),
                pattern=definition.pattern,
            )
        )
        if len(pairs) >= options.max_qa_pairs:
            break
    return tuple(pairs)
