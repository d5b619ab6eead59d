"""The offline topic suggester: key phrases a source stresses that the notebook mentions
only in passing. Pure functions, run in the CPU pool (YAKE and tokenising are CPU work).

    candidates = key_phrases(source_text, limit)             # best first
    thin = coverage(phrase, chunk_texts)                     # which chunks mention it
    suggestion = score(rank, limit, mentions)                # salience x thinness

A phrase is "covered thinly" when at most `MAX_MENTIONS` chunks of the notebook hold it
(as consecutive words, plurals folded). The score is the phrase's salience in its source
(1 for the first key phrase, falling with rank) times its thinness (1 for one mention,
falling with each more). A phrase the notebook does not mention at all cannot come from its
text, so every suggestion has at least one passage that prompted it.
"""

from __future__ import annotations

from dataclasses import dataclass

from learningtool.knowledge import keyphrases

MAX_MENTIONS = 3
CANDIDATES = 15


@dataclass(frozen=True, slots=True)
class Candidate:
    phrase: str
    rank: int  # 0 = the source's best key phrase
    mentions: list[int]  # indexes of the chunk texts that mention it
    score: float


MAX_WORDS = 2
MIN_SINGLE_WORD = 10  # letters: "move", "sequence" or "statement" alone is no topic
_GENERIC_ENDINGS = ("ed", "ing", "ly", "tion", "ment", "ness", "ity", "ance", "ence")


def key_phrases(text: str, limit: int = CANDIDATES) -> list[str]:
    """Up to `limit` topic-like key phrases of `text`, best first, as the text writes them.

    From YAKE's phrases: at most two words (longer ones run across verbs: "calvin cycle
    fix"), a single word only if specific (`_specific`), and no phrase sharing a word with a
    better one ("tectonic plate" after "plate tectonics")."""
    kept: list[str] = []
    used: set[str] = set()
    for phrase in keyphrases.extract(text, 3 * limit):
        words = phrase.split()
        if len(words) > MAX_WORDS or used & set(words):
            continue
        written = surface(phrase, text)
        if len(words) == 1 and not _specific(written):
            continue
        kept.append(written)
        used.update(words)
        if len(kept) >= limit:
            break
    return kept


def _specific(word: str) -> bool:
    """A single word worth a topic: a name or acronym as written ("OSError", "RuBisCO"), or
    a long technical word ("photosynthesis"), not a long abstract one ("information")."""
    if any(ch.isupper() for ch in word[1:]):
        return True
    return len(word) >= MIN_SINGLE_WORD and not word.endswith(_GENERIC_ENDINGS)


def surface(phrase: str, text: str) -> str:
    """`phrase` (normalised words) as it first appears in `text` ("plate tectonic" ->
    "plate tectonics"), lower-cased unless written in capitals (an acronym or a name stays
    as is: "RuBisCO"); the phrase itself when it cannot be found."""
    wanted = phrase.split()
    matches = list(keyphrases.WORD.finditer(text))
    normal = [keyphrases.normalise_token(m.group()) for m in matches]
    for start in range(len(normal) - len(wanted) + 1):
        if normal[start : start + len(wanted)] == wanted:
            words = [m.group() for m in matches[start : start + len(wanted)]]
            return " ".join(w if _keeps_case(w) else w.lower() for w in words)
    return phrase


def _keeps_case(word: str) -> bool:
    return sum(ch.isupper() for ch in word) > 1 or (word[:1].isupper() and word.isupper())


def mentions(phrase: str, texts: list[str]) -> list[int]:
    """Indexes of `texts` holding every word of `phrase` in a row."""
    wanted = keyphrases.tokens(phrase)
    if not wanted:
        return []
    size = len(wanted)
    found = []
    for index, text in enumerate(texts):
        words = keyphrases.tokens(text)
        if any(words[i : i + size] == wanted for i in range(len(words) - size + 1)):
            found.append(index)
    return found


def score(rank: int, limit: int, count: int) -> float:
    salience = 1.0 - rank / max(limit, 1)
    thinness = 1.0 / count
    return round(salience * thinness, 4)


def thin_phrases(phrases: list[str], texts_by_phrase: list[list[str]]) -> list[Candidate]:
    """The thinly covered phrases, best score first (ties: source order)."""
    found = []
    for rank, (phrase, texts) in enumerate(zip(phrases, texts_by_phrase, strict=True)):
        where = mentions(phrase, texts)
        if 1 <= len(where) <= MAX_MENTIONS:
            found.append(Candidate(phrase, rank, where, score(rank, len(phrases), len(where))))
    found.sort(key=lambda c: (-c.score, c.rank))
    return found


def question_for(phrase: str, anchor: str | None) -> str:
    if anchor and anchor != phrase:
        return f"What is {phrase}, and how does it relate to {anchor}?"
    return f"What is {phrase}, and why does it matter?"


def rationale_for(phrase: str, count: int, title: str) -> str:
    times = "once" if count == 1 else f"in {count} passages"
    return (
        f"\u201c{phrase}\u201d is one of the key terms of \u201c{title}\u201d, yet the notebook "
        f"mentions it only {times} without explaining it; researching it fills that gap."
    )
