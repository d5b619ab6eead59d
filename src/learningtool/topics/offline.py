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

import re
from dataclasses import dataclass

from learningtool.knowledge import keyphrases
from learningtool.text import boilerplate
from learningtool.text.sentences import STOPWORDS

MAX_MENTIONS = 3
CANDIDATES = 15


@dataclass(frozen=True, slots=True)
class Candidate:
    phrase: str
    rank: int  # 0 = the source's best key phrase
    mentions: list[int]  # indexes of the chunk texts that mention it
    score: float


MAX_WORDS = 2
# YAKE phrases read per phrase wanted. Three are enough for most texts; in a Git manual
# nearly every phrase shares "git" or "commit" with a better one and only two were left,
# so a text that keeps fewer than `MIN_KEPT` reads `WIDE_POOL` (reading that many always
# brought weaker, thin phrases to the top in the licences: "licensor provides").
POOL, WIDE_POOL, MIN_KEPT = 3, 10, 5
MIN_SINGLE_WORD = 10  # letters: "move", "sequence" or "statement" alone is no topic
_GENERIC_ENDINGS = ("ed", "ing", "ly", "tion", "ment", "ness", "ity", "ance", "ence")


def key_phrases(text: str, limit: int = CANDIDATES) -> list[str]:
    """Up to `limit` topic-like key phrases of `text`, best first, as the text writes them.

    From YAKE's phrases over the body of the text (`boilerplate.clean`: no reference list,
    running heads, URLs), at most two words (longer ones run across verbs: "calvin cycle
    fix"), a single word only if specific (`_specific`), never layout noise ("network
    network") or a piece of an address, and no phrase sharing a word with a better one
    ("tectonic plate" after "plate tectonics")."""
    text = boilerplate.clean(text)
    kept = _phrases(text, limit, POOL)
    if len(kept) < min(MIN_KEPT, limit):
        kept = _phrases(text, limit, WIDE_POOL)
    return kept


def _phrases(text: str, limit: int, pool: int) -> list[str]:
    kept: list[str] = []
    used: set[str] = set()
    for phrase in keyphrases.extract(text, pool * limit):
        words = phrase.split()
        if len(words) > MAX_WORDS or used & set(words) or not _wordlike(words):
            continue
        written = surface(phrase, text)
        if len(words) == 1 and not _specific(written):
            continue
        if not all(_in_prose(word, text) for word in written.split() if _shouted(word)):
            continue
        if not _wordlike(written.split()) or _fragment(written, text):
            continue
        kept.append(written)
        used.update(words)
        if len(kept) >= limit:
            break
    return kept


# Verbs a key-phrase extractor takes for the head of a noun phrase ("distribute copies").
_VERBS = frozenset(
    """
    use using used make making get set see run add copy modify convey distribute give
    allow provide include contain apply create show read write find keep take
    """.split()
)


def _shouted(word: str) -> bool:
    return len(word) >= 4 and word.isalpha() and word.isupper()


def _in_prose(word: str, text: str) -> bool:
    """Is an all-capitals word used as a name in running prose somewhere ("a standard
    POSIX shell"), rather than only in headings and shouted notices ("SYNOPSIS",
    "GNU GENERAL PUBLIC LICENSE", "THE PROGRAM PROVE DEFECTIVE")?"""
    return re.search(rf"\b[a-z][a-z]+[ \t]+{re.escape(word)}[ \t,.]+[a-z]", text) is not None


FRAGMENT_SHARE = 0.8


def _fragment(phrase: str, text: str) -> bool:
    """Is the phrase a piece of a longer fixed name, nearly always preceded or followed by
    the same word ("lesser general" in "Lesser General Public License", "asked questions"
    in "frequently asked questions")?"""
    pattern = re.compile(rf"(\w+)?[ \t\n]*\b{re.escape(phrase)}\b[ \t\n]*(\w+)?", re.IGNORECASE)
    found = list(pattern.finditer(text))
    if len(found) < 2:
        return False
    for group in (1, 2):  # the word before, the word after (articles and such do not count)
        words = [m.group(group).lower() for m in found if m.group(group)]
        words = [w for w in words if w not in STOPWORDS and not w.isdigit()]
        if words and max(words.count(w) for w in set(words)) >= FRAGMENT_SHARE * len(found):
            return True
    return False


_ADDRESS_PIECES = frozenset("http https www com org net html htm pdf doi isbn url".split())


def _wordlike(words: list[str]) -> bool:
    """Words a person would name a subject with: letters, no repeats, no address pieces,
    not opening with a verb or a participle ("asked questions", "distribute copies")."""
    first = words[0].lower()
    if first in _VERBS or (len(words) > 1 and first.endswith(("ed", "ing"))):
        return False
    return len(set(words)) == len(words) and all(
        any(ch.isalpha() for ch in w) and w.lower() not in _ADDRESS_PIECES for w in words
    )


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


def covered_phrases(
    phrases: list[str], texts_by_phrase: list[list[str]], exclude: set[str]
) -> list[Candidate]:
    """The phrases mentioned in more than `MAX_MENTIONS` passages, in salience order, scored
    below every thin one (a topic the notebook already covers is a weaker suggestion)."""
    found = []
    for rank, (phrase, texts) in enumerate(zip(phrases, texts_by_phrase, strict=True)):
        if phrase in exclude:
            continue
        where = mentions(phrase, texts)
        if len(where) > MAX_MENTIONS:
            found.append(
                Candidate(
                    phrase, rank, where[:MAX_MENTIONS], 0.5 * score(rank, len(phrases), len(where))
                )
            )
    return found


def question_for(phrase: str, anchor: str | None) -> str:
    """A question a learner would write, the term quoted as a term: the verb agrees with it
    ("What are “RAG systems”"), and a singular term is asked about as a meaning
    ("What is meant by “commit object”"), which reads right for a count noun, a
    mass noun and a name alike."""
    term = f"“{phrase}”"
    if _plural(phrase):
        opening, rest = f"What are {term}", "how do they relate to"
        closing = "why do they matter?"
    else:
        opening, rest = f"What is meant by {term}", "how does it relate to"
        closing = "why does it matter?"
    if anchor and anchor != phrase:
        return f"{opening}, and {rest} “{anchor}”?"
    return f"{opening}, and {closing}"


def _plural(phrase: str) -> bool:
    """Does the phrase name several things? Its last word ends in a plural -s ("systems",
    "licences"), not in -ss, -us, -is or an acronym's capital S ("GPS", "OS")."""
    last = phrase.split()[-1]
    return (
        len(last) > 3
        and last.endswith("s")
        and not last.endswith(("ss", "us", "is", "ics"))
        and not last.isupper()
    )


def rationale_for(phrase: str, count: int, title: str) -> str:
    times = "once" if count == 1 else f"in {count} passages"
    return (
        f"\u201c{phrase}\u201d is one of the key terms of \u201c{title}\u201d, yet the notebook "
        f"mentions it only {times} without explaining it; researching it fills that gap."
    )
