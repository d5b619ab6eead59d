"""Defining sentences ("X is a Y", "X refers to Y", ...) turned into question and answer.

Textbooks state what a term means in a handful of fixed shapes; matching them at the start of
a sentence gives Q&A whose answer is a verbatim span of the source (the defining part), with
no model. The term X must look like a noun phrase: at most six words, not opening with a
pronoun or a connective ("It is the ...", "This is a ..."), not ending with a stopword. "X are
Y" without an article needs a longer Y that does not open like a predicate adjective or a
passive ("are found in", "are important") - those describe, they do not define.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from learningtool.text.sentences import STOPWORDS

_T = r"(?P<term>[^\W\d_][^\s,;:()\[\]]*(?:\s+[^\s,;:()\[\]]+){0,5}?)"
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(regex, re.DOTALL))  # a hard-wrapped sentence spans lines
    for name, regex in (
        ("defined_as", rf"{_T}\s+(?P<verb>is|are|was|were)\s+defined\s+as\s+(?P<ans>.+)"),
        ("refers_to", rf"{_T}\s+(?P<verb>refers|refer|referred)\s+to\s+(?P<ans>.+)"),
        ("means", rf"{_T}\s+(?P<verb>means|mean|meant)\s+(?P<ans>.+)"),
        ("consists_of", rf"{_T}\s+(?P<verb>consists|consist|consisted)\s+of\s+(?P<ans>.+)"),
        (
            "called",
            rf"{_T}\s+(?P<verb>is|are|was|were)\s+(?:also\s+)?(?:called|known\s+as|termed)"
            rf"\s+(?P<ans>.+)",
        ),
        (
            "which_called",
            rf"{_T},\s+which\s+(?P<verb>is|are|was|were)\s+(?:also\s+)?(?:called|known\s+as)"
            rf"\s+(?P<ans>[^,;]+),",
        ),
        (
            "which_is",
            rf"{_T},\s+which\s+(?P<verb>is|are|was|were)\s+(?P<ans>(?:a|an|the)\s[^,;]+),",
        ),
        ("is_a", rf"{_T}\s+(?P<verb>is|are|was|were)\s+(?P<ans>(?:a|an|the)\s.+)"),
        ("are", rf"{_T}\s+(?P<verb>are)\s+(?P<ans>.+)"),
    )
)
_QUESTIONS = {
    "defined_as": "What {verb} {term}?",
    "refers_to": "What {aux} {term} refer to?",
    "means": "What {aux} {term} mean?",
    "consists_of": "What {aux} {term} consist of?",
    "called": "What {verb} {term} called?",
    "which_called": "What else {verb} {term} called?",
    "which_is": "What {verb} {term}?",
    "is_a": "What {verb} {term}?",
    "are": "What {verb} {term}?",
}
_AUX = {"s": "does", "d": "did", "t": "did"}  # by the verb's last letter: refers/referred/meant
_DETERMINERS = frozenset({"the", "a", "an"})
_NOT_A_TERM = frozenset(
    """
    it its this that these those there here they them their he she his her we you i one each
    all some such both many most other another which what who when where while if as because
    although however thus therefore then so but and or in on at of for with by from during
    after before since until also only no not none every any either neither much more less
    """.split()
)
# A term opening with one of these names a thing only in its context ("the first
# component", "even an assignment"): the question would make no sense alone.
_VAGUE_START = frozenset(
    """
    first second third fourth last next previous following above below former latter same
    other even only new whole former latter current given said
    """.split()
)
_NOT_INSIDE_A_TERM = frozenset("is are was were be been that which who whom when where".split())
_NOT_A_DEFINITION = frozenset(
    """
    also not often usually very more less still now generally typically always never important
    able likely unlikely found made used being thought considered present responsible
    involved essential necessary common rare too so then both all only just mostly mainly
    largely in on at by for from with to of as into there here same one
    """.split()
)
_WEAK_HEADS = frozenset("same case only most least first last best worst key main one".split())
_TRAILING = re.compile(r"[\s.!?;:\u2026]+$")


@dataclass(frozen=True, slots=True)
class Definition:
    """A defining sentence: the term as written, the defining part at `text[start:end]`."""

    sentence: int  # index into the sentences given
    term: str
    start: int
    end: int
    question: str
    pattern: str


def find_definitions(text: str, sentences: Sequence[tuple[int, int]]) -> list[Definition]:
    """At most one definition per sentence, in sentence order."""
    found: list[Definition] = []
    for index, (start, end) in enumerate(sentences):
        body = text[start:end]
        for name, pattern in _PATTERNS:
            match = pattern.match(body)
            if match is None:
                continue
            answer_start, answer_end = match.span("ans")
            answer = body[answer_start:answer_end]
            answer_end -= len(answer) - len(_TRAILING.sub("", answer))
            term = match.group("term")
            if not (_term_ok(term) and _answer_ok(name, body[answer_start:answer_end])):
                continue
            question = _QUESTIONS[name].format(
                verb=match.group("verb"),
                aux=_AUX.get(match.group("verb")[-1], "do"),
                term=_question_term(term, text, start),
            )
            found.append(
                Definition(index, term, start + answer_start, start + answer_end, question, name)
            )
            break
    return found


def _term_ok(term: str) -> bool:
    words = [w.lower() for w in term.split()]
    if words[0] in _DETERMINERS:
        words = words[1:]
    return (
        0 < len(words) <= 5
        and words[0] not in _NOT_A_TERM
        and words[0] not in _VAGUE_START
        and words[-1] not in STOPWORDS
        and not any(w in _NOT_INSIDE_A_TERM for w in words)
    )


def _answer_ok(pattern: str, answer: str) -> bool:
    words = answer.split()
    if len(words) < 2:
        return False
    if pattern in ("is_a", "which_is") and words[1].lower() in _WEAK_HEADS:
        return False
    if pattern == "are":
        first = words[0].lower()
        return (
            len(words) >= 3
            and first not in _NOT_A_DEFINITION
            and not first.endswith(("ed", "ing", "ly"))
        )
    return True


def _question_term(term: str, text: str, position: int) -> str:
    """The term as it reads inside a question: a leading article in lower case; a leading
    capital kept only for names (an acronym, a run of capitalised words, or a word that is
    capitalised mid-sentence elsewhere and never written in lower case)."""
    words = term.split()
    first = words[0]
    if first.lower() in _DETERMINERS:
        return " ".join([first.lower(), *words[1:]])
    lowered = " ".join([first[:1].lower() + first[1:], *words[1:]])
    if first.isupper() or (len(words) > 1 and all(w[:1].isupper() for w in words)):
        return " ".join(words)
    if re.search(rf"\b{re.escape(lowered.split()[0])}\b", text):
        return lowered  # written in lower case elsewhere: a common noun
    for match in re.finditer(rf"\b{re.escape(first)}\b", text):
        before = text[: match.start()].rstrip()[-1:]
        if match.start() != position and (before.isalnum() or before in ",;:("):
            return " ".join(words)  # capitalised mid-sentence: a name
    return lowered
