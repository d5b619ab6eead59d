"""Key phrases of a section, each with its exact occurrences, for summaries and cloze cards.

Why our own extractor rather than YAKE: on textbook prose YAKE's best n-grams often cross a
verb or a heading ("bacteria convert light", "cell Cells"), which makes poor cloze answers, and
it gives no offsets. Without a part-of-speech model we approximate noun phrases instead:

- a *candidate* is a run of 1-3 content words (no stopword, number or punctuation inside);
- it *qualifies* if it is a whole run in the usual frame of a noun phrase - opening after a
  determiner, preposition, number or punctuation (at a sentence start: only when an
  auxiliary follows, "[Mitochondria] are"), closing before punctuation, "of", "and", "or",
  an auxiliary or a relative pronoun ("the [thylakoid membranes] of") - or if it recurs in
  two or more sentences, is a proper name (capitalised mid-sentence, or several capitalised
  words), appears in the heading path, or is a term the caller found defined;
- score = (1 + ln sentence frequency) x length factor x boosts (defined, heading, proper
  name, acronym) x a mild preference for terms introduced early; a single word that sits in
  three or more qualifying longer phrases ("light" in "light energy", "green light", ...) is
  generic and damped; a phrase that never occurs outside a longer qualifying one is dropped.

Deterministic: ties break on first position, then on the phrase.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from learningtool.text.sentences import STOPWORDS, is_number, normalize, tokens

MAX_WORDS = 3
OPENERS = frozenset(
    """
    the a an this that these those its their his her our my your each every some any no
    of in on into onto from by with for at about as through between during across under over
    within without among against toward towards upon via per two three four five six several
    many such both
    """.split()
)
CLOSERS = frozenset(
    """
    of and or is are was were has have had which that who whose can could may might will
    would should must does do did
    """.split()
)
GENERIC = frozenset(
    """
    process way part type kind example number amount result form thing lot fact case time year
    day order level point side end place manner aspect feature various different certain new
    important main large small high low good general specific able whole other same first
    second third last next few today people someone something
    """.split()
)
Key = tuple[str, ...]
_POSSESSIVE = re.compile(r"['\u2019]s$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One occurrence of a phrase: sentence number and `text[start:end]`."""

    sentence: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class KeyPhrase:
    key: Key  # normalized words, the identity of the phrase
    score: float
    occurrences: tuple[Occurrence, ...]  # in text order

    @property
    def first(self) -> Occurrence:
        return self.occurrences[0]


@dataclass(slots=True)
class _Stats:
    occurrences: list[Occurrence]
    sentences: set[int]
    frame: bool = False  # a whole run in a noun-phrase frame
    proper: bool = False
    acronym: bool = False


def extract(
    text: str,
    sentences: Sequence[tuple[int, int]],
    *,
    headings: Iterable[str] = (),
    defined: Iterable[Key] = (),
    limit: int | None = None,
) -> list[KeyPhrase]:
    """Key phrases of the given sentences (spans of `text`), best first."""
    stats: dict[Key, _Stats] = {}
    for index, (start, end) in enumerate(sentences):
        _collect(text, index, start, end, stats)
    heading_keys = _heading_keys(headings)
    defined_keys = set(defined)
    qualified = {
        key: st
        for key, st in stats.items()
        if _acceptable(key, st)
        and (
            st.frame
            or len(st.sentences) >= 2
            or st.proper
            or key in heading_keys
            or key in defined_keys
        )
    }
    parents: dict[str, int] = {}
    for key in qualified:
        if len(key) > 1:
            for word in set(key):
                parents[word] = parents.get(word, 0) + 1
    covering = _covering(qualified)
    result: list[KeyPhrase] = []
    for key, st in qualified.items():
        spans = covering.get(key)
        if spans and all(
            any(s <= o.start and o.end <= e for s, e in spans) for o in st.occurrences
        ):
            continue  # never occurs outside a longer qualifying phrase: that one is the term
        score = (1.0 + math.log(len(st.sentences))) * (1.0, 1.35, 1.5)[len(key) - 1]
        if key in defined_keys:
            score *= 1.8
        if key in heading_keys:
            score *= 1.5
        if st.proper:
            score *= 1.3
        if st.acronym:
            score *= 1.2
        if len(key) == 1 and parents.get(key[0], 0) >= 3:
            score *= 0.6
        score *= 1.0 + 0.5 / (1.0 + min(st.sentences))
        occurrences = tuple(sorted(st.occurrences, key=lambda o: o.start))
        result.append(KeyPhrase(key, round(score, 6), occurrences))
    result.sort(key=lambda kp: (-kp.score, kp.first.start, kp.key))
    return result[:limit] if limit is not None else result


def phrase_key(text: str) -> Key:
    """The key of a phrase given as text (e.g. a defined term), without its stopwords, as
    candidates never hold one ("The Calvin cycle" -> ("calvin", "cycle"))."""
    return tuple(normalize(w) for _, _, w in tokens(text) if w.lower() not in STOPWORDS)


def _collect(text: str, index: int, start: int, end: int, stats: dict[Key, _Stats]) -> None:
    words = tokens(text, start, end)
    run: list[int] = []  # indices into words
    for position in range(len(words) + 1):
        if position < len(words) and _content(words[position][2]):
            if not run or _joined(text, words[run[-1]], words[position]):
                run.append(position)
                continue
            _add_run(text, index, words, run, stats)
            run = [position]
            continue
        if run:
            _add_run(text, index, words, run, stats)
            run = []


def _add_run(
    text: str,
    index: int,
    words: list[tuple[int, int, str]],
    run: list[int],
    stats: dict[Key, _Stats],
) -> None:
    first, last = run[0], run[-1]
    opens = first == 0 or _gap_punct(text, words[first - 1][1], words[first][0])
    if not opens and first > 0:
        opens = words[first - 1][2].lower() in OPENERS or is_number(words[first - 1][2])
    closes = last == len(words) - 1 or _gap_punct(text, words[last][1], words[last + 1][0])
    if not closes and last + 1 < len(words):
        closes = words[last + 1][2].lower() in CLOSERS
    # a sentence-initial run is a subject only when an auxiliary follows ("Mitochondria are")
    if first == 0 and last + 1 < len(words):
        opens = words[last + 1][2].lower() in CLOSERS - {"of", "and", "or"}
    keys = [normalize(words[i][2]) for i in run]
    for size in range(1, MAX_WORDS + 1):
        for offset in range(len(run) - size + 1):
            span = run[offset : offset + size]
            key = tuple(keys[offset : offset + size])
            st = stats.get(key)
            if st is None:
                st = stats[key] = _Stats([], set())
            s, e = words[span[0]][0], words[span[-1]][1]
            if surface_end := _POSSESSIVE.search(words[span[-1]][2]):
                e -= len(surface_end.group())  # "the cell's" -> the phrase is "cell"
            st.occurrences.append(Occurrence(index, s, e))
            st.sentences.add(index)
            if size == len(run) and opens and closes:
                st.frame = True
            surface = [words[i][2] for i in span]
            if (span[0] > 0 or size > 1) and all(w[:1].isupper() for w in surface):
                st.proper = True
            if size == 1 and len(surface[0]) >= 2 and surface[0].isupper():
                st.acronym = True


def _content(word: str) -> bool:
    lower = word.lower()
    return not (lower in STOPWORDS or is_number(word) or (len(word) < 2 and not word.isupper()))


def _joined(text: str, left: tuple[int, int, str], right: tuple[int, int, str]) -> bool:
    """Two words belong to one run when only spaces separate them."""
    gap = text[left[1] : right[0]]
    return gap.isspace() and gap.count("\n") <= 1


def _gap_punct(text: str, start: int, end: int) -> bool:
    return any(not ch.isspace() for ch in text[start:end])


def _acceptable(key: Key, st: _Stats) -> bool:
    if len(key) == 1:
        word = key[0]
        return word not in GENERIC and (len(word) >= 3 or st.acronym)
    return not all(word in GENERIC for word in key)


def _heading_keys(headings: Iterable[str]) -> set[Key]:
    result: set[Key] = set()
    for heading in headings:
        words = [normalize(w) for _, _, w in tokens(heading)]
        content = [w for w in words if w not in STOPWORDS]
        for size in range(1, MAX_WORDS + 1):
            for offset in range(len(content) - size + 1):
                result.add(tuple(content[offset : offset + size]))
    return result


def _covering(qualified: dict[Key, _Stats]) -> dict[Key, list[tuple[int, int]]]:
    """For each sub-phrase of a qualifying multi-word phrase, the spans that contain it."""
    covering: dict[Key, list[tuple[int, int]]] = {}
    for key, st in qualified.items():
        for size in range(1, len(key)):
            for offset in range(len(key) - size + 1):
                spans = covering.setdefault(key[offset : offset + size], [])
                spans.extend((o.start, o.end) for o in st.occurrences)
    return covering
