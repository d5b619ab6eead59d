"""What the research nodes receive: a `ResearchContext` given per run, never a global.

    ResearchContext(search_notebook=..., search_web=None, llm=None, progress=None, usage=None)

The service builds one per run, on the run's own event loop, around its database session
factory, retriever, LLM client and (when configured) web searcher, and passes it as
`graph.ainvoke(..., context=ctx)` (LangGraph's runtime context). Nodes find it with
`context_of(runtime, config)`: first `runtime.context`, then `config["configurable"]
[CONTEXT_KEY]` (where a graph factory puts the context it opened for a `langgraph dev` run,
see `graph.graph_factory`). There is no silent default: a run without a context fails with
`MissingContext`, so a service that forgot to pass one never writes an empty report.

`InMemoryNotebook` is a notebook held in memory (a few passages, lexical matching): the
in-memory fake for tests and the notebook `langgraph dev` uses when a run brings its own
passages (`in_memory_context`).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from langchain_core.runnables import RunnableConfig

from learningtool.errors import AppError
from learningtool.llm import LlmClient, UsageSink
from learningtool.research.agent.state import Evidence, ProgressEvent
from learningtool.text.sentences import STOPWORDS, normalize, tokens

SearchFn = Callable[[str, int], Awaitable[list[Evidence]]]
"""`await search(query, k)`: at most `k` pieces of evidence, best first."""
ProgressFn = Callable[[ProgressEvent], Awaitable[None] | None]
ContextFactory = Callable[[RunnableConfig], AbstractAsyncContextManager["ResearchContext"]]
"""Opens a context for one run from the run's config (on the run's loop) and closes it
when the run ends."""

CONTEXT_KEY = "research_context"


class MissingContext(AppError):
    status_code = 500
    code = "research_context_missing"


@dataclass(frozen=True, slots=True)
class ResearchContext:
    """Everything a research run may call. `search_web` is None when no web provider is
    configured (the notebook is then the only source); `llm` is None for the offline engine.
    `progress` is called with every progress event (besides the custom stream), sync or async.
    `usage` accumulates the tokens of every model call of the run."""

    search_notebook: SearchFn
    search_web: SearchFn | None = None
    llm: LlmClient | None = None
    progress: ProgressFn | None = None
    usage: UsageSink | None = None


def context_of(runtime_context: object, config: RunnableConfig | None) -> ResearchContext:
    """The run's context: the runtime context if it is one, else the one a graph factory
    placed in the config; `MissingContext` otherwise."""
    if isinstance(runtime_context, ResearchContext):
        return runtime_context
    configured = ((config or {}).get("configurable") or {}).get(CONTEXT_KEY)
    if isinstance(configured, ResearchContext):
        return configured
    raise MissingContext(
        "the research graph needs a ResearchContext: pass context=ResearchContext(...) to the "
        "run, or serve the graph through graph_factory(...)"
    )


async def report_progress(context: ResearchContext, event: ProgressEvent) -> None:
    """Give `event` to the context's callback, if any (the stream writer is the node's job)."""
    if context.progress is None:
        return
    outcome = context.progress(event)
    if inspect.isawaitable(outcome):
        await outcome


# -- building evidence --------------------------------------------------------------------------


class PassageLike(Protocol):
    """What `learningtool.knowledge.search.Passage` offers (duck-typed: no database import)."""

    @property
    def chunk_id(self) -> str: ...
    @property
    def source_id(self) -> str: ...
    @property
    def source_title(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def start_char(self) -> int: ...
    @property
    def end_char(self) -> int: ...
    @property
    def page(self) -> int | None: ...


def passage_evidence(passage: PassageLike, *, rank: int = 0) -> Evidence:
    """Evidence for a notebook passage (the search node fills `query` and `loop`)."""
    return Evidence(
        key=f"passage:{passage.chunk_id}",
        kind="passage",
        title=passage.source_title or "",
        text=passage.text,
        rank=rank,
        query="",
        loop=0,
        chunk_id=passage.chunk_id,
        source_id=passage.source_id,
        start_char=passage.start_char,
        end_char=passage.end_char,
        page=passage.page,
        url=None,
        snippet=None,
    )


def web_evidence(url: str, title: str, text: str, *, snippet: str = "", rank: int = 0) -> Evidence:
    """Evidence for a web result: `text` is the page's text when it was fetched, else the
    search engine's snippet."""
    return Evidence(
        key=f"web:{url}",
        kind="web",
        title=title,
        text=text or snippet,
        rank=rank,
        query="",
        loop=0,
        chunk_id=None,
        source_id=None,
        start_char=None,
        end_char=None,
        page=None,
        url=url,
        snippet=snippet or None,
    )


def terms(text: str) -> list[str]:
    """Normalised content words of `text`, in order (stopwords and bare numbers left out)."""
    return [
        normalize(word)
        for _, _, word in tokens(text)
        if word.lower() not in STOPWORDS and not word.isdigit()
    ]


# -- the in-memory notebook ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemoryPassage:
    chunk_id: str
    source_id: str
    source_title: str
    text: str
    start_char: int
    end_char: int
    page: int | None = None


class InMemoryNotebook:
    """Passages in memory, searched by shared content words weighted by rarity (BM25-like,
    without length normalisation). Holds no connection, file or loop-bound object."""

    def __init__(self, passages: Iterable[MemoryPassage]) -> None:
        self.passages = list(passages)
        self._terms = [set(terms(p.text)) | set(terms(p.source_title)) for p in self.passages]
        count = len(self.passages)
        frequency: dict[str, int] = {}
        for bag in self._terms:
            for term in bag:
                frequency[term] = frequency.get(term, 0) + 1
        self._idf = {t: math.log(1 + count / f) for t, f in frequency.items()}
        self.calls: list[tuple[str, int]] = []

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> InMemoryNotebook:
        """From JSON records: `text` (required), `title`/`source_title`, and optionally
        `chunk_id`, `source_id`, `start_char`, `end_char`, `page`."""
        passages = []
        for index, record in enumerate(records):
            text = str(record.get("text") or "")
            if not text.strip():
                continue
            start = int(record.get("start_char") or 0)
            passages.append(
                MemoryPassage(
                    chunk_id=str(record.get("chunk_id") or f"memory-{index + 1}"),
                    source_id=str(record.get("source_id") or "memory"),
                    source_title=str(
                        record.get("source_title") or record.get("title") or "Untitled passage"
                    ),
                    text=text,
                    start_char=start,
                    end_char=int(record.get("end_char") or start + len(text)),
                    page=int(record["page"]) if record.get("page") is not None else None,
                )
            )
        return cls(passages)

    async def search(self, query: str, k: int) -> list[Evidence]:
        self.calls.append((query, k))
        wanted = set(terms(query))
        scored = []
        for index, bag in enumerate(self._terms):
            score = sum(self._idf[t] for t in wanted & bag)
            if score > 0:
                scored.append((-score, index))
        scored.sort()
        return [
            passage_evidence(self.passages[index], rank=rank)
            for rank, (_, index) in enumerate(scored[:k], start=1)
        ]


@asynccontextmanager
async def in_memory_context(config: RunnableConfig) -> AsyncIterator[ResearchContext]:
    """The `langgraph dev` context: an offline engine over the passages the run brings in its
    context/configurable (`{"passages": [{"text": ..., "title": ...}, ...]}`), or an empty
    notebook. Built per run; nothing to close."""
    configurable = config.get("configurable") or {}
    records = configurable.get("passages") or []
    notebook = InMemoryNotebook.from_records(records if isinstance(records, list) else [])
    yield ResearchContext(search_notebook=notebook.search)
