"""The offline research engine: planning, reflection and an extractive report, no model.

- Planning: the question itself, then its key phrases together, then each key phrase alone.
  Key phrases are runs of up to three content words between stopwords, question words
  ("how", "explain", "difference") and punctuation: "How does retrieval-augmented generation
  reduce hallucinations?" gives "retrieval-augmented generation", "reduce hallucinations".
- Reflection: a key phrase is covered when one piece of evidence holds all its words; the
  uncovered ones are the gaps, searched alone in the next loop (if not asked yet). Enough when
  nothing is uncovered or nothing new is left to ask.
- Report: sentences of the best evidence that share the most words with the question, each
  followed by `[n]` of the evidence it comes from, grouped by source; then what the evidence
  does not cover, how it was searched, and a plain statement that no model wrote it.

Deterministic: same question and evidence, same queries and report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from learningtool.research.agent.context import terms
from learningtool.research.agent.report import FinalReport, finalize
from learningtool.research.agent.state import Bounds, Evidence
from learningtool.study.ranking import redundant
from learningtool.text.sentences import STOPWORDS, split_sentences, tokens

QUESTION_WORDS = frozenset(
    """
    how what why when where which who whom whose does do did is are was were can could should
    would explain describe compare contrast discuss summarize summarise tell give list outline
    overview difference differences relationship relation role importance way ways main key
    example examples kind kinds type types aspect aspects various different between vs versus
    need needs work works happen happens matter matters mean meaning please briefly detail
    details
    """.split()
) | frozenset(  # frequent verbs of questions: they end a phrase ("does X reduce Y")
    """
    reduce reduces increase increases improve improves affect affects cause causes prevent
    prevents help helps change changes differ differs influence influences lead leads produce
    produces enable enables support supports solve solves relate relates compared
    """.split()
)
MAX_PHRASE_WORDS = 3
MAX_REPORT_EVIDENCE = 40  # pieces of evidence read for sentences (bounds the work per report)
MAX_SENTENCES_PER_SOURCE = 3
HOW_HEADING = "## How this was researched"
_ANAPHORIC = frozenset("it its this that these those they their them such".split())
NO_MODEL_NOTE = (
    "*Written without a language model.* This is an extractive report: the sentences below "
    "are quoted from the passages found that share the most words with the question, each "
    "followed by the number of its source. They were selected, not understood: they may not "
    "answer the question, may repeat or contradict each other, and the sources may say more "
    "than is shown here."
)


def question_phrases(question: str) -> list[str]:
    """The key phrases of a question, in order, as written (lower case), without repeats."""
    phrases: list[str] = []
    run: list[tuple[int, int, str]] = []

    def flush() -> None:
        for at in range(0, len(run), MAX_PHRASE_WORDS):
            piece = run[at : at + MAX_PHRASE_WORDS]
            phrase = question[piece[0][0] : piece[-1][1]].lower()
            phrase = " ".join(phrase.split())
            if phrase not in phrases:
                phrases.append(phrase)
        run.clear()

    previous_end = 0
    for start, end, word in tokens(question):
        gap = question[previous_end:start]
        lowered = word.lower()
        if run and gap.strip():  # punctuation between the words
            flush()
        if lowered in STOPWORDS or lowered in QUESTION_WORDS or word.isdigit():
            flush()
        else:
            run.append((start, end, word))
        previous_end = end
    flush()
    return phrases


def _query_key(query: str) -> tuple[str, ...]:
    return tuple(sorted(set(terms(query))))


def plan_queries(question: str, n: int, asked: list[str] | None = None) -> list[str]:
    """Up to `n` first-loop queries: the question, its key phrases together, each alone."""
    phrases = question_phrases(question)
    candidates = [" ".join(question.split())]
    if len(phrases) > 1:
        candidates.append(" ".join(phrases))
    candidates.extend(phrases)
    chosen = _fresh(candidates, n, asked or [])
    if not chosen and not asked and question.strip():
        chosen = [candidates[0]]  # no content word at all: search the question as it is
    return chosen


def _fresh(candidates: list[str], n: int, asked: list[str]) -> list[str]:
    seen = {_query_key(q) for q in asked}
    chosen: list[str] = []
    for query in candidates:
        key = _query_key(query)
        if not key or key in seen:
            continue
        seen.add(key)
        chosen.append(query)
        if len(chosen) >= n:
            break
    return chosen


def coverage(question: str, evidence: list[Evidence]) -> tuple[list[str], list[str]]:
    """(covered, uncovered) key phrases: covered when one piece of evidence (text or title)
    holds every word of the phrase."""
    bags = [set(terms(item["text"])) | set(terms(item["title"])) for item in evidence]
    covered, uncovered = [], []
    for phrase in question_phrases(question):
        wanted = set(terms(phrase))
        if wanted and any(wanted <= bag for bag in bags):
            covered.append(phrase)
        else:
            uncovered.append(phrase)
    return covered, uncovered


@dataclass(frozen=True, slots=True)
class Reflection:
    gaps: list[str]
    queries: list[str]
    sufficient: bool


def reflect(question: str, evidence: list[Evidence], asked: list[str], n: int) -> Reflection:
    """The gaps (uncovered key phrases) and up to `n` new queries for them."""
    covered, gaps = coverage(question, evidence)
    candidates = []
    for gap in gaps:
        candidates.append(gap)
        if covered:
            candidates.append(f"{gap} {covered[0]}")
    queries = _fresh(candidates, n, asked)
    return Reflection(gaps=gaps, queries=queries, sufficient=not gaps or not queries)


# -- the report ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Candidate:
    evidence: int  # index into the evidence read
    start: int
    end: int
    score: float
    words: set[str]


def ordered_evidence(evidence: list[Evidence]) -> list[Evidence]:
    """Best first: by best rank in any result list, then by loop, then as found."""
    order = sorted(
        range(len(evidence)), key=lambda i: (evidence[i]["rank"], evidence[i]["loop"], i)
    )
    return [evidence[i] for i in order]


def offline_report(
    question: str,
    evidence: list[Evidence],
    bounds: Bounds,
    *,
    queries: list[str],
    loops: int,
) -> FinalReport:
    """The extractive report with validated citations (see the module docstring)."""
    read = ordered_evidence(evidence)[:MAX_REPORT_EVIDENCE]
    chosen = _choose(question, read, bounds.report_sources)
    numbered = {index + 1: read[index] for index in {c.evidence for c in chosen}}
    web = any(item["kind"] == "web" for item in read)
    where = "the sources" if web else "the notebook"
    lines = [f"# {_escape_heading(question)}", "", NO_MODEL_NOTE, ""]
    lines.append(f"## What {where} says")
    lines.append("")
    if chosen:
        lines.extend(_paragraphs(read, chosen))
    else:
        lines.append(
            f"Nothing in {where} matches this question: no passage found shares its key "
            "words. Add material on the topic to the notebook, or ask with other words."
        )
        lines.append("")
    _, uncovered = coverage(question, read)
    lines.append(f"## What {where} does not cover")
    lines.append("")
    if uncovered:
        lines.extend(
            f"- **{_escape_heading(gap)}**: no source found mentions it." for gap in uncovered
        )
    elif chosen:
        lines.append(
            "- Every key term of the question appears in the sources found. Whether they answer "
            "it fully cannot be judged without a language model."
        )
    else:
        lines.append("- The whole question: nothing relevant was found.")
    lines.append("")
    lines.append(HOW_HEADING)
    lines.append("")
    sources = "the notebook and the web" if web else "the notebook"
    lines.append(
        f"{len(queries)} quer{'y' if len(queries) == 1 else 'ies'} over {sources} in "
        f"{loops} loop{'s' if loops != 1 else ''}; {len(evidence)} distinct source"
        f"{'s' if len(evidence) != 1 else ''} found, {len(numbered)} quoted."
    )
    lines.extend(f"- {_escape_heading(q)}" for q in queries)
    return finalize("\n".join(lines), numbered)


def _choose(question: str, read: list[Evidence], max_sources: int) -> list[_Candidate]:
    wanted = set(terms(question)) - {w for w in QUESTION_WORDS}
    phrases = [set(terms(p)) for p in question_phrases(question)]
    if not wanted:
        return []
    candidates: list[_Candidate] = []
    for index, item in enumerate(read):
        text = item["text"]
        for sentence in split_sentences(text):
            if sentence.heading:
                continue
            words = tokens(text, sentence.start, sentence.end)
            alpha = [w for w in words if any(ch.isalpha() for ch in w[2])]
            if not 5 <= len(alpha) <= 80:
                continue
            bag = set(terms(text[sentence.start : sentence.end]))
            shared = wanted & bag
            if not shared:
                continue
            score = len(shared) / math.sqrt(len(wanted))
            score += sum(0.5 for p in phrases if p and p <= bag)
            score += 0.5 / (1 + index)
            if words[0][2].lower() in _ANAPHORIC:
                score *= 0.8
            candidates.append(_Candidate(index, sentence.start, sentence.end, score, bag))
    candidates.sort(key=lambda c: (-c.score, c.evidence, c.start))
    limit = min(max(max_sources, 3), 12)
    chosen: list[_Candidate] = []
    per_source: dict[int, int] = {}
    for candidate in candidates:
        if len(chosen) >= limit:
            break
        if per_source.get(candidate.evidence, 0) >= MAX_SENTENCES_PER_SOURCE:
            continue
        if candidate.evidence not in per_source and len(per_source) >= max_sources:
            continue
        if any(redundant(candidate.words, other.words) for other in chosen):
            continue
        chosen.append(candidate)
        per_source[candidate.evidence] = per_source.get(candidate.evidence, 0) + 1
    return chosen


def _paragraphs(read: list[Evidence], chosen: list[_Candidate]) -> list[str]:
    """One paragraph per source, in order of its best sentence; sentences in text order."""
    order: list[int] = []
    for candidate in chosen:
        if candidate.evidence not in order:
            order.append(candidate.evidence)
    lines = []
    for index in order:
        text = read[index]["text"]
        sentences = sorted((c for c in chosen if c.evidence == index), key=lambda c: c.start)
        body = " ".join(
            f"{_escape_heading(text[c.start : c.end])} [{index + 1}]" for c in sentences
        )
        lines.extend([body, ""])
    return lines


def _escape_heading(text: str) -> str:
    """One line, brackets escaped: a "[12]" inside quoted text is not a citation marker."""
    return " ".join(text.split()).replace("[", "\\[").replace("]", "\\]")
