"""Retrieval bench: quality of the fused search on the Python tutorial evaluation set, a
fusion-settings experiment, and query latency at 1,000 and 10,000 chunks, all through the
real service code.

Run from the repository root: `python bench/retrieval.py [--quick] [...]`. Prints one JSON
document on stdout (progress goes to stderr). Needs Debian's `python3-doc` (the tutorial
and, for the latency notebooks, the library/reference/howto pages).

1. Quality. A temporary data directory with SQLite, `open_context(Settings(local embedder,
   graph enabled, no in-app worker))`, a user and a notebook made with the user and notebook
   services; each tutorial page (16, no table of contents) is staged with the blob store and
   added with `source.service.add_upload`, exactly as an upload or `learningtool ingest` does
   (title: the file name, as an upload without a title field gets; `--titles html` gives the
   page's <title> instead). `Worker(context, kinds=[source.ingest]).drain()` then runs the
   ingestion jobs: extraction and chunking in the pool, embeddings (LocalEmbedder), the
   LightRAG graph (worker process), the chunks and the FTS rows (triggers). The study jobs
   that ingestion enqueues are left queued: they do not touch search. Each of the 73
   questions of `bench/retrieval_eval.json` then goes through
   `learningtool.knowledge.search.search(session, retriever, notebook, q, k=10, mode=...)`
   for the modes lexical, vector, graph (LightRAG alone), fast (lexical + vector) and hybrid
   (all three). A passage is a hit when it contains an evidence string (whitespace
   normalised, `bench/retrieval_data.is_hit`). recall@5 = share of questions with a hit in
   the top 5; MRR@10 = mean of 1/rank of the first hit in the top 10 (0 if none).
2. The fusion itself is chosen on the dev questions of `bench/quality.py` (its `tune`
   part), on documents other than this tutorial; this bench only reports it.
3. Latency. `search()` in modes hybrid and fast, interleaved per query, one session per
   query as a request has, after a warm-up; ~100 questions (the 73 of the evaluation set
   and learner questions on the library reference). Notebooks:
   - ~1,000 chunks through the full pipeline (the tutorial plus library pages, uploaded and
     ingested like part 1: real embeddings, real graph);
   - 10,000 chunks written directly: the real extracted and chunked text of tutorial,
     library, reference and howto pages as Source and Chunk rows (FTS by the triggers), one
     Embedding row per chunk (chunks already embedded by the 1k notebook keep their real
     vectors; the others get a real vector plus noise, renormalised: embedding 10,000
     chunks takes ~5 minutes here, and a vector's values do not change the cost of the
     matrix product), `index_version` bumped, and the graph filled through
     `context.graph.insert` when its projected time fits `--graph-budget-seconds`
     (`--graph-10k`). Without it the 10k "hybrid" figure is measured with no graph and says
     so; the 1k notebook always has its graph.
   The first query after a change reloads the notebook's vector matrix from SQL: that "cold"
   query is measured apart (`--cold-repeats` times, after bumping `index_version`), never in
   the warm percentiles. A separate instrumented pass times each step of a query
   (exclusions, lexical, vector matrix check, query embedding, graph, hydration); the query
   embedding and the graph query run alongside the SQL steps, so the steps overlap.
   The FTS table is shared by all notebooks of a database (the notebook id is an UNINDEXED
   column), so the 1k notebook is also measured again once the 10k notebook exists.
4. Targets: fused recall@5 >= 0.9 and above every single method; warm p95 <= 50 ms at
   10,000 chunks (SQLite, offline embeddings). Reported as met true/false, never asserted.

`--quick` shrinks everything (fewer latency queries, a smaller grid, no 10k graph).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import hashlib
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # `bench.retrieval_data`

# Light imports only at module level: the pool and graph processes (spawn) import this
# script again as `__mp_main__`; the service stack is imported inside functions.
from bench.common import (  # noqa: E402
    emit,
    identity,
    loadavg,
    log,
    machine,
    ms_stats,
    new_notebook,
    open_offline_app,
    r,
)

DOC_ROOT = Path("/usr/share/doc/python3/html")
LATENCY_DIRS = ("library", "reference", "howto")
MODES = ("lexical", "vector", "graph", "fast", "hybrid")
SINGLE = ("lexical", "vector", "graph")
TARGETS = {"fused_recall_at_5_min": 0.9, "p95_ms_max_at_10k": 50.0}
INGEST_KINDS = ["source.ingest"]

# Learner questions on the library reference (latency only: no evidence strings).
LIBRARY_QUESTIONS = (
    "How do I parse command line options and show a help message?",
    "How can I read rows from a CSV file into dictionaries?",
    "What is the way to run another program and capture what it prints?",
    "How do I turn a Python object into a JSON string and back?",
    "How can I compute the difference between two dates in days?",
    "Which module gives me a thread-safe queue between producer and consumer threads?",
    "How do I match a pattern in a string and get the groups it captured?",
    "How can I walk a directory tree and list every file in it?",
    "How do I write log messages to a file with timestamps?",
    "What should I use to store data in a small local SQL database?",
    "How can I make a temporary file that is deleted automatically?",
    "How do I count how often each item appears in a list?",
    "How can I run coroutines concurrently and wait for all of them?",
    "How do I make an HTTP request with only the standard library?",
    "What is the way to copy a whole directory with its contents?",
    "How can I create an enumeration with named constant values?",
    "How do I measure how long a small piece of code takes to run?",
    "How can I compress a file with gzip from Python?",
    "What is a context manager and how do I write one with a decorator?",
    "How do I sort a list of objects by one of their attributes?",
    "How can I make a deep copy of a nested structure?",
    "How do I generate cryptographically secure random tokens?",
    "How can I read configuration from an INI file?",
    "How do I define a data class with default field values?",
    "What does the with statement do with the exception raised inside its block?",
    "How are name lookups resolved in nested functions and classes?",
    "How can I check the type hints of a function at runtime?",
    "How do I split a path into its directory and file name?",
    "How can I run a function in a pool of worker processes?",
    "How do I format a number with thousands separators?",
)


def ms_summary(seconds: list[float]) -> dict[str, Any]:
    return ms_stats(seconds, ("n", "p50_ms", "p95_ms", "max_ms", "mean_ms"), 2)


# -- documents ---------------------------------------------------------------------------------


class Page:
    """An HTML page of python3-doc, extracted and chunked as the pipeline does."""

    def __init__(self, path: Path, max_tokens: int, overlap: int) -> None:
        from learningtool.ingestion.chunk import chunk
        from learningtool.ingestion.document import Kind
        from learningtool.ingestion.extract import extract

        self.path = path
        self.data = path.read_bytes()
        self.extracted = extract(self.data, Kind.HTML)
        self.chunks = chunk(self.extracted, max_tokens=max_tokens, overlap_tokens=overlap)

    @property
    def name(self) -> str:
        return self.path.name  # what an upload of the file is called

    def title(self, titles: str) -> str:
        if titles == "html" and self.extracted.title:
            return self.extracted.title[:500]
        return self.name


def tutorial_pages() -> list[Path]:
    from bench.retrieval_data import tutorial_dir

    return [p for p in sorted(tutorial_dir().glob("*.html")) if p.stem != "index"]


def other_pages() -> list[Path]:
    seen = {p.name for p in tutorial_pages()} | {"index.html", "contents.html"}
    paths: list[Path] = []
    for folder in LATENCY_DIRS:
        for path in sorted((DOC_ROOT / folder).glob("*.html")):
            if path.name not in seen:  # file names are source titles: keep them distinct
                seen.add(path.name)
                paths.append(path)
    return paths


# -- the app -----------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, data_dir: Path) -> None:
        self.args = args
        self.data_dir = data_dir
        self.context: Any = None
        self.user_id = ""
        self.page_cache: dict[Path, Page] = {}

    async def open(self) -> None:
        self.context, self.user_id = await open_offline_app(self.data_dir)

    async def close(self) -> None:
        if self.context is not None:
            await self.context.close()

    def page(self, path: Path) -> Page:
        page = self.page_cache.get(path)
        if page is None:
            settings = self.context.settings
            page = Page(path, settings.chunk_max_tokens, settings.chunk_overlap_tokens)
            self.page_cache[path] = page
        return page

    async def notebook(self, name: str) -> str:
        return await new_notebook(self.context, self.user_id, name)

    async def upload_pages(self, notebook_id: str, paths: list[Path]) -> dict[str, Any]:
        """Stage each page with the blob store, add it with `add_upload`, run the ingestion
        jobs; returns timings and counts."""
        from sqlalchemy import func, select

        from learningtool.db import session_scope
        from learningtool.jobs.worker import Worker
        from learningtool.models import Chunk, Notebook, Source
        from learningtool.source import service as source_service
        from learningtool.source.upload import Upload

        context = self.context
        started = time.perf_counter()
        for path in paths:
            page = self.page(path)
            staged = await context.blobs.stage_bytes(notebook_id, page.data)
            fields = {"title": page.title(self.args.titles)} if self.args.titles == "html" else {}
            upload = Upload(file=staged, filename=page.name, fields=fields)
            async with session_scope(context.sessions) as session:
                notebook = await session.get(Notebook, notebook_id)
                await source_service.add_upload(session, context, notebook, upload)
        added = time.perf_counter()
        ran = await Worker(context, kinds=INGEST_KINDS).drain()
        done = time.perf_counter()
        async with context.sessions() as session:
            statuses = dict(
                (
                    await session.execute(
                        select(Source.status, func.count())
                        .where(Source.notebook_id == notebook_id)
                        .group_by(Source.status)
                    )
                ).all()
            )
            chunks = await session.scalar(
                select(func.count()).select_from(Chunk).where(Chunk.notebook_id == notebook_id)
            )
        return {
            "pages": len(paths),
            "chunks": int(chunks or 0),
            "source_statuses": statuses,
            "jobs_run": ran,
            "add_upload_s": r(added - started, 1),
            "ingest_jobs_s": r(done - added, 1),
        }

    async def search(
        self, retriever: Any, notebook_id: str, question: str, mode: str, k: int = 10
    ) -> list[Any]:
        from learningtool.knowledge import search as search_module

        async with self.context.sessions() as session:
            return await search_module.search(
                session, retriever, notebook_id, question, k=k, mode=mode
            )

    async def chunk_texts(self, notebook_id: str) -> dict[str, tuple[str, str]]:
        """chunk id -> (source original name, text)."""
        from sqlalchemy import select

        from learningtool.models import Chunk, Source

        async with self.context.sessions() as session:
            rows = await session.execute(
                select(Chunk.id, Source.original_name, Chunk.text)
                .join(Source, Source.id == Chunk.source_id)
                .where(Chunk.notebook_id == notebook_id)
            )
            return {cid: (name or "", text) for cid, name, text in rows.all()}

    async def bump(self, notebook_id: str) -> None:
        from learningtool.db import session_scope
        from learningtool.knowledge.vectors import bump_index_version

        async with session_scope(self.context.sessions) as session:
            await bump_index_version(session, notebook_id)


# -- quality -----------------------------------------------------------------------------------


def score(
    ordered: list[list[str]], hits: list[set[str]], subset: list[int] | None = None
) -> dict[str, float]:
    """recall@5 and MRR@10 of ranked chunk ids per question."""
    indexes = subset if subset is not None else list(range(len(ordered)))
    found5 = 0
    reciprocal = 0.0
    for i in indexes:
        for rank, chunk_id in enumerate(ordered[i][:10], start=1):
            if chunk_id in hits[i]:
                found5 += rank <= 5
                reciprocal += 1.0 / rank
                break
    n = max(1, len(indexes))
    return {"recall_at_5": found5 / n, "mrr_at_10": reciprocal / n}


async def quality(bench: Bench) -> dict[str, Any]:
    from bench.retrieval_data import is_hit, load_questions

    args = bench.args
    context = bench.context
    log("quality: uploading the tutorial")
    notebook_id = await bench.notebook("Python tutorial")
    pages = tutorial_pages()
    ingest = await bench.upload_pages(notebook_id, pages)
    log(f"quality: {ingest['chunks']} chunks ingested in {ingest['ingest_jobs_s']} s")
    questions = load_questions()
    texts = await bench.chunk_texts(notebook_id)
    hits = [
        {cid for cid, (_name, text) in texts.items() if is_hit(text, question)}
        for question in questions
    ]
    problems = [
        q.id
        for q, found in zip(questions, hits, strict=True)
        if not any(texts[cid][0] == f"{q.doc}.html" for cid in found)
    ]
    retriever = context.retriever

    from learningtool.knowledge import search as search_module

    current = dataclasses.asdict(search_module.FUSION)
    log("quality: 73 questions x 5 modes through search()")
    service_lists: dict[str, list[list[str]]] = {}
    methods: dict[str, Any] = {}
    for mode in MODES:
        ordered = []
        for question in questions:
            passages = await bench.search(retriever, notebook_id, question.question, mode)
            ordered.append([p.chunk_id for p in passages])
        service_lists[mode] = ordered
        figures = score(ordered, hits)
        paraphrased = [i for i, q in enumerate(questions) if q.paraphrased]
        methods[mode] = {
            "recall_at_5": r(figures["recall_at_5"]),
            "mrr_at_10": r(figures["mrr_at_10"]),
            "recall_at_5_paraphrased": r(score(ordered, hits, paraphrased)["recall_at_5"]),
            "misses_at_5": [
                q.id
                for q, ids, found in zip(questions, ordered, hits, strict=True)
                if not found.intersection(ids[:5])
            ],
        }
    best_single = max(methods[m]["recall_at_5"] for m in SINGLE)
    result: dict[str, Any] = {
        "corpus": {
            "what": "Python tutorial pages from python3-doc, uploaded with add_upload and "
            "ingested by the ingestion jobs (Worker.drain)",
            "titles": args.titles,
            **ingest,
            "questions": len(questions),
            "questions_without_a_hit_chunk_in_their_page": problems,
        },
        "settings": current,
        "methods": methods,
        "fused_beats_every_single_method": {
            "hybrid_recall_at_5": methods["hybrid"]["recall_at_5"],
            "best_single_recall_at_5": best_single,
            "met": methods["hybrid"]["recall_at_5"] > best_single,
        },
    }
    state = {
        "notebook_id": notebook_id,
        "questions": questions,
        "hits": hits,
        "service_lists": service_lists,
        "current": current,
    }
    return {"report": result, "state": state}


# -- latency notebooks -------------------------------------------------------------------------


async def build_1k(bench: Bench, target: int) -> tuple[str, dict[str, Any]]:
    """Tutorial plus library pages through the full pipeline, until `target` chunks."""
    paths = tutorial_pages()
    total = sum(len(bench.page(p).chunks) for p in paths)
    for path in other_pages():
        if total >= target:
            break
        count = len(bench.page(path).chunks)
        if count == 0:
            continue
        paths.append(path)
        total += count
    notebook_id = await bench.notebook("Latency 1k")
    log(f"latency: 1k notebook, {len(paths)} pages (~{total} chunks) through the pipeline")
    ingest = await bench.upload_pages(notebook_id, paths)
    return notebook_id, {
        "how": "uploaded with add_upload and ingested by the ingestion jobs (real embeddings, "
        "real LightRAG graph)",
        **ingest,
    }


async def build_10k(bench: Bench, target: int) -> tuple[str, dict[str, Any]]:
    """Real extracted text of python3-doc pages as rows: sources, chunks (FTS by triggers),
    embeddings (real when already computed for the same text, else a real vector plus
    noise), index version bumped."""
    import numpy as np
    from sqlalchemy import insert, select

    from learningtool.db import session_scope
    from learningtool.knowledge.keys import describe, embed_text, text_hash
    from learningtool.knowledge.vectors import bump_index_version
    from learningtool.models import Chunk, Embedding, Source, utcnow

    context = bench.context
    model = context.embedder.name
    notebook_id = await bench.notebook("Latency 10k")
    started = time.perf_counter()
    rows_sources: list[dict[str, Any]] = []
    rows_chunks: list[dict[str, Any]] = []
    texts_by_hash: dict[str, None] = {}
    for path in tutorial_pages() + other_pages():
        if len(rows_chunks) >= target:
            break
        page = bench.page(path)
        if not page.chunks:
            continue
        source_id = hashlib.sha256(f"{notebook_id}:{page.name}".encode()).hexdigest()[:32]
        title = page.title(bench.args.titles)
        now = utcnow()
        rows_sources.append(
            {
                "id": source_id,
                "notebook_id": notebook_id,
                "kind": "file",
                "title": title,
                "media_type": "text/html",
                "content_hash": hashlib.sha256(page.data).hexdigest(),
                "original_name": page.name,
                "status": "ready",
                "progress": 1.0,
                "text": page.extracted.text,
            }
        )
        for c in page.chunks[: target - len(rows_chunks)]:
            key = describe(
                source_id, title, c.ordinal, c.start_char, c.end_char, c.text, c.heading_path
            )
            rows_chunks.append(
                {
                    "id": key.id,
                    "source_id": source_id,
                    "notebook_id": notebook_id,
                    "ordinal": c.ordinal,
                    "text": c.text,
                    "start_char": c.start_char,
                    "end_char": c.end_char,
                    "page": c.page,
                    "slide": c.slide,
                    "heading_path": list(c.heading_path),
                    "token_count": c.token_count,
                    "embed_hash": key.embed_hash,
                    "created_at": now,
                }
            )
            texts_by_hash[key.embed_hash] = None
            assert key.embed_hash == text_hash(embed_text(title, c.heading_path, c.text))
    chunked = time.perf_counter()
    async with context.sessions() as session:
        known_rows = (
            await session.execute(
                select(Embedding.text_hash, Embedding.vector).where(Embedding.model == model)
            )
        ).all()
    known = {h: v for h, v in known_rows}
    pool = np.frombuffer(b"".join(known.values()), dtype=np.float32).reshape(len(known), -1)
    rng = np.random.default_rng(20240601)
    missing = [h for h in texts_by_hash if h not in known]
    base = pool[rng.integers(0, len(pool), size=len(missing))]
    noise = rng.standard_normal(base.shape).astype(np.float32) * (0.6 / np.sqrt(base.shape[1]))
    synthetic = base + noise
    synthetic /= np.linalg.norm(synthetic, axis=1, keepdims=True)
    async with session_scope(context.sessions) as session:
        for first in range(0, len(rows_sources), 250):
            await session.execute(insert(Source), rows_sources[first : first + 250])
        for first in range(0, len(missing), 250):
            await session.execute(
                insert(Embedding),
                [
                    {
                        "model": model,
                        "text_hash": h,
                        "dim": int(synthetic.shape[1]),
                        "vector": synthetic[first + i].astype(np.float32).tobytes(),
                    }
                    for i, h in enumerate(missing[first : first + 250])
                ],
            )
        for first in range(0, len(rows_chunks), 250):
            await session.execute(insert(Chunk), rows_chunks[first : first + 250])
        await bump_index_version(session, notebook_id)
    written = time.perf_counter()
    info: dict[str, Any] = {
        "how": "real extracted and chunked python3-doc text written as Source/Chunk rows "
        "(FTS by triggers), Embedding rows, index_version bumped",
        "pages": len(rows_sources),
        "chunks": len(rows_chunks),
        "vectors_real": len(texts_by_hash) - len(missing),
        "vectors_synthetic": len(missing),
        "synthetic_vectors": "a real chunk vector (random pick) + Gaussian noise of norm ~0.6, "
        "renormalised (cosine ~0.86 to its base)",
        "extract_and_chunk_s": r(chunked - started, 1),
        "sql_write_s": r(written - chunked, 1),
    }
    state = {"chunks": rows_chunks}
    bench.page_cache.clear()
    return notebook_id, {**info, "_state": state}


async def graph_10k(bench: Bench, notebook_id: str, chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """Insert the chunks into the notebook's graph through `context.graph.insert`, if the
    projected time fits the budget (`--graph-10k auto`)."""
    from learningtool.knowledge.graph import GraphChunk

    args = bench.args
    graph = bench.context.graph
    if args.graph_10k == "no" or graph is None:
        return {"inserted": False, "reason": "--graph-10k no"}
    items = [GraphChunk(c["id"], c["source_id"], c["text"]) for c in chunks]
    probe = min(len(items), 1000)
    started = time.perf_counter()
    step = 500
    done = 0
    projected = None
    while done < len(items):
        await graph.insert(notebook_id, items[done : done + step])
        done = min(len(items), done + step)
        elapsed = time.perf_counter() - started
        if done == probe:
            # Later batches cost more (the graph grows): project with a margin.
            projected = elapsed / done * len(items) * 1.3
            log(f"latency: graph {done} chunks in {elapsed:.1f} s, projected {projected:.0f} s")
            if args.graph_10k == "auto" and projected > args.graph_budget_seconds:
                await graph.drop(notebook_id)
                return {
                    "inserted": False,
                    "reason": f"projected {projected:.0f} s > budget "
                    f"{args.graph_budget_seconds:g} s (first {probe} chunks took {elapsed:.1f} s)",
                }
        elif done % 2000 == 0:
            log(f"latency: graph {done} chunks in {elapsed:.1f} s")
    elapsed = time.perf_counter() - started
    return {
        "inserted": True,
        "chunks": len(items),
        "seconds": r(elapsed, 1),
        "chunks_per_s": r(len(items) / elapsed, 1),
        "projected_after_first_1000_s": r(projected, 0),
    }


# -- latency -----------------------------------------------------------------------------------


def latency_questions(count: int) -> list[str]:
    from bench.retrieval_data import load_questions

    pool = [q.question for q in load_questions()] + list(LIBRARY_QUESTIONS)
    return [pool[i % len(pool)] for i in range(count)]


async def measure_latency(
    bench: Bench,
    notebook_id: str,
    retriever: Any,
    questions: list[str],
    modes: tuple[str, ...] = ("hybrid", "fast"),
) -> dict[str, Any]:
    """Warm-up, then each question in each mode (interleaved), one session per query."""
    args = bench.args
    for question in questions[: args.warmup]:
        for mode in modes:
            await bench.search(retriever, notebook_id, question, mode)
    samples: dict[str, list[float]] = {mode: [] for mode in modes}
    for index, question in enumerate(questions):
        order = modes if index % 2 == 0 else tuple(reversed(modes))
        for mode in order:
            started = time.perf_counter()
            await bench.search(retriever, notebook_id, question, mode)
            samples[mode].append(time.perf_counter() - started)
    return {mode: ms_summary(values) for mode, values in samples.items()}


async def measure_cold(
    bench: Bench, notebook_id: str, retriever: Any, question: str
) -> dict[str, Any]:
    """The first query after a change (index_version bumped): the vector matrix is reloaded
    from SQL. Also the matrix load alone."""
    from learningtool.knowledge import vectors

    out: dict[str, list[float]] = {"hybrid": [], "fast": [], "matrix_load_only": []}
    for _ in range(bench.args.cold_repeats):
        for mode in ("hybrid", "fast"):
            await bench.bump(notebook_id)
            started = time.perf_counter()
            await bench.search(retriever, notebook_id, question, mode)
            out[mode].append(time.perf_counter() - started)
        index: vectors.VectorIndex = retriever.vectors
        index.forget(notebook_id)
        async with bench.context.sessions() as session:
            started = time.perf_counter()
            await index.matrix(session, notebook_id)
            out["matrix_load_only"].append(time.perf_counter() - started)
    return {name: ms_summary(values) for name, values in out.items()}


# Steps the code declares as spans (`learningtool.spans.timed`), recorded rather than wrapped
# because their functions are private, and the label this bench reports them under.
SPAN_STEPS = {
    "knowledge.passages": "hydrate_passages_sql",
    "knowledge.vector_matrix": "vector_matrix_version_check",
}


class StepTimer:
    """Times the steps of a query: public functions are wrapped (module globals and instance
    attributes, looked up at call time), the private ones recorded through their spans
    (`SPAN_STEPS`); `undo()` restores the wrapped ones and stops the recording."""

    def __init__(self, bench: Bench, retriever: Any) -> None:
        from learningtool import spans
        from learningtool.knowledge import lexical
        from learningtool.knowledge import search as search_module

        self.samples: dict[str, list[float]] = defaultdict(list)
        self._undo: list[Callable[[], None]] = []
        self._wrap_attr(search_module, "excluded_sources", "exclusions_sql")
        self.samples["hydrate_passages_sql"] = []  # the report's order of steps, as before
        self._wrap_attr(lexical, "search", "lexical_fts")
        vectors = retriever.vectors
        self._wrap_attr(vectors, "search", "vector_total")
        self.samples["vector_matrix_version_check"] = []
        self._wrap_attr(vectors.embedder, "embed_query", "vector_query_embedding")
        if retriever.graph is not None:
            self._wrap_attr(retriever.graph, "query", "graph_query_ipc")
        missing = [name for name in SPAN_STEPS if name not in spans.declared()]
        if missing:
            raise RuntimeError(f"spans not declared by the code: {missing}")
        samples = self.samples

        def record(name: str, started: float, ended: float) -> None:
            label = SPAN_STEPS.get(name)
            if label is not None:
                samples[label].append(ended - started)

        self._undo.append(spans.record(record))

    def _wrap_attr(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)
        samples = self.samples[label]

        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                samples.append(time.perf_counter() - started)

        had_instance_attr = not isinstance(owner, type) and name in getattr(owner, "__dict__", {})
        setattr(owner, name, wrapper)
        if had_instance_attr or isinstance(owner, type(sys)):
            self._undo.append(lambda: setattr(owner, name, original))
        else:
            self._undo.append(lambda: delattr(owner, name))

    def undo(self) -> None:
        for step in reversed(self._undo):
            step()


async def measure_steps(
    bench: Bench, notebook_id: str, retriever: Any, questions: list[str]
) -> dict[str, Any]:
    timer = StepTimer(bench, retriever)
    total: list[float] = []
    try:
        for question in questions:
            started = time.perf_counter()
            await bench.search(retriever, notebook_id, question, "hybrid")
            total.append(time.perf_counter() - started)
    finally:
        timer.undo()
    steps = {name: ms_summary(values) for name, values in timer.samples.items()}
    steps["search_total_instrumented"] = ms_summary(total)
    return steps


# -- main --------------------------------------------------------------------------------------


async def run(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    from learningtool.knowledge.search import Retriever

    bench = Bench(args, data_dir)
    report: dict[str, Any] = {}
    phases: dict[str, float] = {}
    try:
        began = time.perf_counter()
        await bench.open()
        phases["open_context"] = time.perf_counter() - began

        began = time.perf_counter()
        q = await quality(bench)
        report["quality"] = q["report"]
        phases["quality"] = time.perf_counter() - began
        if args.no_latency:
            return {"report": report, "phases": phases}

        questions = latency_questions(args.latency_queries)
        latency: dict[str, Any] = {
            "queries": len(questions),
            "warmup_queries_per_mode": args.warmup,
            "what": "wall time of search(session, retriever, notebook, q, k=10, mode) with a "
            "fresh session per query, hybrid and fast interleaved; the vector matrix is "
            "loaded before the timed queries (warm-up) and reported apart as cold",
        }

        began = time.perf_counter()
        nb1k, info1k = await build_1k(bench, args.size_1k)
        phases["build_1k"] = time.perf_counter() - began
        log("latency: measuring 1k")
        began = time.perf_counter()
        retriever = bench.context.retriever
        one_k: dict[str, Any] = {"notebook": info1k, "graph": "yes (full pipeline)"}
        one_k["cold"] = await measure_cold(bench, nb1k, retriever, questions[0])
        one_k["warm"] = await measure_latency(bench, nb1k, retriever, questions)
        one_k["steps_hybrid"] = await measure_steps(bench, nb1k, retriever, questions)
        latency["chunks_1k"] = one_k
        phases["latency_1k"] = time.perf_counter() - began

        if not args.no_10k:
            began = time.perf_counter()
            nb10k, info10k = await build_10k(bench, args.size_10k)
            chunks = info10k.pop("_state")["chunks"]
            phases["build_10k_rows"] = time.perf_counter() - began
            began = time.perf_counter()
            graph_info = await graph_10k(bench, nb10k, chunks)
            phases["build_10k_graph"] = time.perf_counter() - began
            del chunks
            with_graph = bool(graph_info["inserted"])
            retriever10 = retriever if with_graph else Retriever(retriever.vectors, None)
            log(f"latency: measuring 10k (graph: {with_graph})")
            began = time.perf_counter()
            ten_k: dict[str, Any] = {
                "notebook": info10k,
                "graph": graph_info,
                "hybrid_label": "hybrid = lexical + vector + graph"
                if with_graph
                else "hybrid WITHOUT graph (graph not built for this notebook): equals fast; "
                "see chunks_1k for hybrid with the graph",
            }
            ten_k["cold"] = await measure_cold(bench, nb10k, retriever10, questions[0])
            ten_k["warm"] = await measure_latency(bench, nb10k, retriever10, questions)
            ten_k["steps_hybrid"] = await measure_steps(bench, nb10k, retriever10, questions)
            latency["chunks_10k"] = ten_k
            phases["latency_10k"] = time.perf_counter() - began
            log("latency: 1k again, with the 10k notebook in the same database")
            latency["chunks_1k"]["warm_with_10k_notebook_in_same_db"] = await measure_latency(
                bench, nb1k, retriever, questions
            )
        report["latency"] = latency
        if args.graph_stats and bench.context.graph is not None:
            with contextlib.suppress(Exception):
                report["graph_worker"] = await bench.context.graph.stats()
    finally:
        began = time.perf_counter()
        await bench.close()
        phases["close"] = time.perf_counter() - began
    return {"report": report, "phases": phases}


def targets(report: dict[str, Any]) -> dict[str, Any]:
    cpus = os.cpu_count()
    methods = report["quality"]["methods"]
    hybrid = methods["hybrid"]["recall_at_5"]
    best_single = max(methods[m]["recall_at_5"] for m in SINGLE)
    out: dict[str, Any] = {
        "fused_recall_at_5": {
            "value": hybrid,
            "min": TARGETS["fused_recall_at_5_min"],
            "met": hybrid >= TARGETS["fused_recall_at_5_min"],
            "basis": "hybrid mode, current settings of learningtool.knowledge.search",
        },
        "fused_above_every_single_method": {
            "hybrid": hybrid,
            "single": {m: methods[m]["recall_at_5"] for m in SINGLE},
            "met": hybrid > best_single,
        },
    }
    ten_k = report.get("latency", {}).get("chunks_10k")
    if ten_k is not None:
        for mode in ("hybrid", "fast"):
            p95 = ten_k["warm"][mode]["p95_ms"]
            out[f"p95_ms_{mode}_at_10k"] = {
                "value": p95,
                "max": TARGETS["p95_ms_max_at_10k"],
                "met": p95 is not None and p95 <= TARGETS["p95_ms_max_at_10k"],
                "basis": "warm queries; "
                + (
                    "lexical + vector"
                    if mode == "fast"
                    else "with graph"
                    if ten_k["graph"]["inserted"]
                    else "hybrid WITHOUT graph"
                ),
                "cold_first_query_p50_ms": ten_k["cold"][mode]["p50_ms"],
            }
    out["cpu_count"] = cpus
    out["cpus_usable"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    out["loadavg_1_5_15"] = loadavg()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shrink every phase")
    parser.add_argument("--titles", choices=["filename", "html"], default="filename")
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument("--no-10k", action="store_true", help="latency at 1k only")
    parser.add_argument("--size-1k", type=int, default=1000)
    parser.add_argument("--size-10k", type=int, default=10000)
    parser.add_argument("--latency-queries", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--cold-repeats", type=int, default=3)
    parser.add_argument(
        "--graph-10k",
        choices=["auto", "yes", "no"],
        default="auto",
        help="fill the 10k notebook's graph (auto: when its projected time fits the budget)",
    )
    parser.add_argument("--graph-budget-seconds", type=float, default=240.0)
    parser.add_argument("--graph-stats", action="store_true", help="graph worker memory")
    args = parser.parse_args()
    if args.quick:
        args.latency_queries = min(args.latency_queries, 40)
        args.warmup = min(args.warmup, 5)
        args.cold_repeats = min(args.cold_repeats, 2)
        if args.graph_10k == "auto":
            args.graph_10k = "no"

    from learningtool.logs import configure_logging

    configure_logging("WARNING", json=True)  # stderr: stdout carries the JSON only
    started = time.perf_counter()
    load_before = loadavg()
    tmp = Path(tempfile.mkdtemp(prefix="lt-bench-retrieval-"))
    try:
        result = asyncio.run(run(args, tmp / "data"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report = result["report"]
    document = {
        **identity("retrieval"),
        "machine": machine(
            load_before,
            loadavg(),
            note="other processes may share this machine; compare load with cpu_count",
        ),
        "options": vars(args),
        **report,
        "targets": targets(report),
        "phases_s": {name: r(value, 1) for name, value in result["phases"].items()},
        "bench_seconds": r(time.perf_counter() - started, 1),
    }
    emit(document)


if __name__ == "__main__":
    main()
