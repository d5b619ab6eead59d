"""The research graph's state, input, output and progress events: plain, JSON-ready data.

Everything here is a `TypedDict` of strings, numbers, lists and dicts, so a checkpointer
(SQLite, PostgreSQL, in memory) can store it as is and a resumed run reads back exactly what
was written. Evidence is a dict, never a `Passage` object or an ORM row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, NotRequired, TypedDict

Effort = Literal["low", "medium", "high"]
EvidenceKind = Literal["passage", "web"]
Engine = Literal["llm", "offline"]
Step = Literal["plan", "search", "reflect", "report"]


@dataclass(frozen=True, slots=True)
class Bounds:
    """What an effort level allows: research loops (plan/reflect -> search rounds), queries
    per loop, passages asked for per query, and sources a report may draw on."""

    max_loops: int
    queries_per_loop: int
    results_per_query: int
    report_sources: int


EFFORTS: dict[str, Bounds] = {
    "low": Bounds(max_loops=1, queries_per_loop=2, results_per_query=5, report_sources=8),
    "medium": Bounds(max_loops=3, queries_per_loop=3, results_per_query=6, report_sources=12),
    "high": Bounds(max_loops=10, queries_per_loop=4, results_per_query=8, report_sources=20),
}
DEFAULT_EFFORT: Effort = "medium"


def bounds(effort: str | None) -> Bounds:
    return EFFORTS.get(effort or DEFAULT_EFFORT, EFFORTS[DEFAULT_EFFORT])


class Evidence(TypedDict):
    """One thing found: a notebook passage (a chunk with its exact source span) or a web page.

    `key` identifies it across queries ("passage:<chunk_id>" or "web:<url>"); `rank` is its
    best position in any result list (1 = first), `query` and `loop` where it was first found.
    Passage fields are None for web evidence and the other way round."""

    key: str
    kind: EvidenceKind
    title: str
    text: str
    rank: int
    query: str
    loop: int
    chunk_id: str | None
    source_id: str | None
    start_char: int | None
    end_char: int | None
    page: int | None
    url: str | None
    snippet: str | None  # a web result's own snippet (what the search engine showed)


class Citation(TypedDict):
    """What a report's `[n]` points at. Passage: chunk, source and span (+ page); web: URL
    and title. `quote` is the text of the source the report relied on (verbatim)."""

    n: int
    kind: EvidenceKind
    title: str
    quote: str
    chunk_id: NotRequired[str]
    source_id: NotRequired[str]
    source_title: NotRequired[str]
    start_char: NotRequired[int]
    end_char: NotRequired[int]
    page: NotRequired[int | None]
    quote_start_char: NotRequired[int]  # the quote's own span in the source (passages)
    quote_end_char: NotRequired[int]
    quotes: NotRequired[list[dict[str, Any]]]  # passages: every sentence used {text, span}
    url: NotRequired[str]


class SearchLog(TypedDict):
    """One query as run: how many notebook passages and web results it found, and why the
    web part failed if it did (the run goes on with what it has)."""

    query: str
    loop: int
    notebook: int
    web: int
    error: str | None


def merge_evidence(current: list[Evidence], new: list[Evidence]) -> list[Evidence]:
    """Reducer: add evidence not seen yet (by `key`), keeping the first occurrence and the best
    rank. Deterministic: LangGraph applies parallel writes in task order."""
    merged = list(current)
    index = {item["key"]: i for i, item in enumerate(merged)}
    for item in new:
        at = index.get(item["key"])
        if at is None:
            index[item["key"]] = len(merged)
            merged.append(item)
        elif item["rank"] < merged[at]["rank"]:
            merged[at] = {**merged[at], "rank": item["rank"]}
    return merged


def add_logs(current: list[SearchLog], new: list[SearchLog]) -> list[SearchLog]:
    return [*current, *new]


class ResearchInput(TypedDict):
    """What a run is asked: the question, the effort, and whether the web may be searched
    (only when the context has a web provider; the notebook is always searched)."""

    question: str
    effort: NotRequired[Effort]
    use_web: NotRequired[bool]


class ResearchOutput(TypedDict, total=False):
    """What a finished run gives back (the graph's output schema)."""

    report: str
    citations: list[Citation]
    queries: list[str]
    loops: int
    engine: Engine
    gaps: list[str]
    warnings: list[str]


class ResearchState(ResearchInput, ResearchOutput, total=False):
    """Everything a run keeps between steps (and in its checkpoints)."""

    loop: int  # research loops started (a loop = one round of searches, then reflection)
    pending: list[str]  # the queries of the current loop
    sufficient: bool
    evidence: Annotated[list[Evidence], merge_evidence]
    searches: Annotated[list[SearchLog], add_logs]


class SearchTask(TypedDict):
    """The input of one `search` task (sent in parallel, one per query)."""

    query: str
    loop: int
    k: int
    use_web: bool


class ProgressEvent(TypedDict, total=False):
    """A custom stream event (`stream_mode="custom"`), also given to the context's callback.

    `step` is always there; the rest depends on it: `queries` (plan, reflect), `query` and
    `found` (search), `sources_found` (distinct sources so far), `gaps` (reflect),
    `engine`, `done` (report)."""

    step: Step
    loop: int
    queries: list[str]
    query: str
    found: int
    sources_found: int
    gaps: list[str]
    engine: Engine
    message: str
    done: bool
