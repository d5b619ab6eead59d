"""Quality bench: search, offline chat, study material and topics measured on real public
documents that nobody here wrote the code for (`bench/quality/README.md` says where they
come from and how the questions were written).

Run from the repository root: `python bench/quality.py [--corpus NAME ...]`. Prints one
JSON document on stdout (progress on stderr). Every figure is given per corpus and in
total, for the `dev` and the `test` split of the questions separately: tune on dev, report
test.

For each corpus a temporary data directory (SQLite, the packaged local embedder, the
offline graph, no in-app worker) gets a user and a notebook; each document is added with
`source.service.add_upload` as an upload is, and `Worker(context).drain()` runs every job
that follows (ingestion, study material, topic suggestions), as the server would.

- Search: `knowledge.search.search(..., k=10, mode=M)` for each mode. A passage is a hit
  when it comes from the question's document and covers at least half of the evidence
  sentence's span, its text cut at 1,500 characters. recall@5 and MRR@10 (reciprocal rank
  of the first hit in the top 10, 0 if none).
- Chat: `chat.service.compose` (what a chat message runs: retrieval as chat does, then the
  answer, citations and claim checks), with no history. An answerable question counts as
  answered with its evidence when a quote (offline) or, with an LLM, a cited passage covers
  the evidence span; an unanswerable one counts as declined when the answer says the
  notebook does not cover it.
- Study material: every item generated for the notebook, judged by `bench/quality_junk.py`;
  the detector itself is scored against the labelled samples in `bench/quality/labels/`.
- Topics: each document of the corpus alone in a notebook of its own (embeddings are
  cached by text, so this is cheap), the suggestions its default preferences ask for.

With `--llm-base-url` and `--llm-model` (any OpenAI-compatible endpoint, Ollama's `/v1`
included) chat, study material and topics use the LLM engines instead; not run in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.common import (  # noqa: E402
    emit,
    identity,
    loadavg,
    log,
    machine,
    new_notebook,
    open_offline_app,
    r,
)
from bench.quality_corpus import (  # noqa: E402
    QUESTIONS_DIR,
    corpus_names,
    documents,
)

MODES = ("lexical", "vector", "graph", "fast", "hybrid")
PASSAGE_CHARS = 1500
SPLITS = ("dev", "test")
TARGETS = {
    "hybrid_recall_at_5_min": 0.92,
    "hybrid_recall_at_5_paraphrased_min": 0.88,
    "chat_answered_with_evidence_min": 0.8,
    "chat_declined_unanswerable_min": 0.8,
    "study_junk_max": 0.05,
}


def load_questions(corpus: str) -> list[dict[str, Any]]:
    path = QUESTIONS_DIR / f"{corpus}.json"
    return list(json.loads(path.read_text())["questions"]) if path.exists() else []


def evidence_span(source_text: str, evidence: str) -> tuple[int, int] | None:
    """Where `evidence` lies in the source text, matching any run of whitespace."""
    pattern = r"\s+".join(re.escape(word) for word in evidence.split())
    match = re.search(pattern, source_text)
    return (match.start(), match.end()) if match else None


def covers(start: int, end: int, span: tuple[int, int]) -> bool:
    """Does `[start, end)` hold at least half of `span`?"""
    overlap = min(end, span[1]) - max(start, span[0])
    return overlap * 2 >= span[1] - span[0]


class Corpus:
    """One corpus in a notebook of its own, with what the bench needs to judge results."""

    def __init__(self, bench: Bench, name: str) -> None:
        self.bench = bench
        self.name = name
        self.notebook_id = ""
        self.source_by_document: dict[str, str] = {}
        self.texts: dict[str, str] = {}  # source id -> extracted text
        self.chunks: dict[str, tuple[str, int, int]] = {}  # id -> source id, start, end
        self.ingest: dict[str, Any] = {}

    async def load(self) -> None:
        self.notebook_id = await self.bench.notebook(self.name)
        started = time.perf_counter()
        self.source_by_document = await self.bench.upload(self.notebook_id, documents(self.name))
        jobs = await self.bench.drain()
        self.texts = await self.bench.source_texts(self.notebook_id)
        self.chunks = await self.bench.chunk_spans(self.notebook_id)
        self.ingest = {
            "documents": len(self.source_by_document),
            "chunks": await self.bench.chunk_count(self.notebook_id),
            "jobs_run": jobs,
            "seconds": r(time.perf_counter() - started, 1),
        }

    def span(self, question: dict[str, Any]) -> tuple[str, tuple[int, int]] | None:
        if not question["answerable"]:
            return None
        source_id = self.source_by_document[question["document"]]
        span = evidence_span(self.texts[source_id], question["evidence"])
        if span is None:
            raise SystemExit(f"{question['id']}: evidence not found in the stored text")
        return source_id, span

    def is_hit(self, passage: Any, target: tuple[str, tuple[int, int]]) -> bool:
        source_id, span = target
        end = min(passage.end_char, passage.start_char + PASSAGE_CHARS)
        return passage.source_id == source_id and covers(passage.start_char, end, span)


class Bench:
    def __init__(self, args: argparse.Namespace, data_dir: Path) -> None:
        self.args = args
        self.data_dir = data_dir
        self.context: Any = None
        self.user_id = ""

    async def open(self) -> None:
        from learningtool.logs import configure_logging

        configure_logging("WARNING")  # structlog's default prints on stdout, the report's
        llm: dict[str, Any] = {}
        if self.args.llm_base_url:
            llm = {
                "llm_provider": "openai",
                "llm_base_url": self.args.llm_base_url,
                "llm_model": self.args.llm_model,
                "llm_api_key": self.args.llm_api_key or "none",
            }
        self.context, self.user_id = await open_offline_app(self.data_dir, **llm)

    async def close(self) -> None:
        if self.context is not None:
            await self.context.close()

    async def notebook(self, name: str) -> str:
        return await new_notebook(self.context, self.user_id, name)

    async def upload(self, notebook_id: str, paths: list[Path]) -> dict[str, str]:
        """Add each file as an upload (title: its file name); document name -> source id."""
        from learningtool.db import session_scope
        from learningtool.models import Notebook
        from learningtool.source import service as source_service
        from learningtool.source.upload import Upload

        sources: dict[str, str] = {}
        for path in paths:
            staged = await self.context.blobs.stage_bytes(notebook_id, path.read_bytes())
            async with session_scope(self.context.sessions) as session:
                notebook = await session.get(Notebook, notebook_id)
                added = await source_service.add_upload(
                    session,
                    self.context,
                    notebook,
                    Upload(file=staged, filename=path.name, fields={}),
                )
                sources[path.name] = added.source.id
        return sources

    async def drain(self) -> int:
        from learningtool.jobs.worker import Worker

        return await Worker(self.context).drain()

    async def source_texts(self, notebook_id: str) -> dict[str, str]:
        from sqlalchemy import select

        from learningtool.models import Source

        async with self.context.sessions() as session:
            rows = await session.execute(
                select(Source.id, Source.text).where(Source.notebook_id == notebook_id)
            )
            return {source_id: text or "" for source_id, text in rows.all()}

    async def chunk_spans(self, notebook_id: str) -> dict[str, tuple[str, int, int]]:
        from sqlalchemy import select

        from learningtool.models import Chunk

        async with self.context.sessions() as session:
            rows = await session.execute(
                select(Chunk.id, Chunk.source_id, Chunk.start_char, Chunk.end_char).where(
                    Chunk.notebook_id == notebook_id
                )
            )
            return {chunk_id: (source, start, end) for chunk_id, source, start, end in rows}

    async def chunk_count(self, notebook_id: str) -> int:
        from sqlalchemy import func, select

        from learningtool.models import Chunk

        async with self.context.sessions() as session:
            count = await session.scalar(
                select(func.count()).select_from(Chunk).where(Chunk.notebook_id == notebook_id)
            )
            return int(count or 0)

    async def search(self, notebook_id: str, question: str, mode: str) -> list[Any]:
        from learningtool.knowledge import search as search_module

        async with self.context.sessions() as session:
            return await search_module.search(
                session, self.context.retriever, notebook_id, question, k=10, mode=mode
            )

    async def compose(self, notebook_id: str, question: str) -> Any:
        from learningtool.chat import service as chat_service

        return await chat_service.compose(self.context, notebook_id, question)

    async def study_items(self, notebook_id: str) -> list[dict[str, Any]]:
        from sqlalchemy import select

        from learningtool.models import Source, StudyItem

        async with self.context.sessions() as session:
            rows = await session.execute(
                select(StudyItem, Source.original_name)
                .join(Source, Source.id == StudyItem.source_id)
                .where(StudyItem.notebook_id == notebook_id)
                .order_by(Source.original_name, StudyItem.start_char, StudyItem.kind)
            )
            return [
                {"document": name, "kind": item.kind, "engine": item.engine, **item.payload}
                for item, name in rows.all()
            ]

    async def topics(self, notebook_id: str) -> list[dict[str, Any]]:
        from sqlalchemy import select

        from learningtool.models import Topic

        async with self.context.sessions() as session:
            rows = await session.scalars(
                select(Topic).where(Topic.notebook_id == notebook_id).order_by(Topic.score.desc())
            )
            return [
                {"question": t.question, "score": r(t.score), "rationale": t.rationale}
                for t in rows
            ]


# -- measures ----------------------------------------------------------------------------------


def _group(question: dict[str, Any]) -> str:
    if not question["answerable"]:
        return "unanswerable"
    return "paraphrased" if question["paraphrased"] else "literal"


async def measure_search(corpus: Corpus, questions: list[dict[str, Any]]) -> dict[str, Any]:
    """recall@5 and MRR@10 per mode, per split, overall and on paraphrased questions."""
    ranks: dict[str, dict[str, list[tuple[str, int | None]]]] = {
        split: defaultdict(list) for split in SPLITS
    }
    for question in questions:
        target = corpus.span(question)
        if target is None:
            continue
        for mode in corpus.bench.args.modes:
            passages = await corpus.bench.search(corpus.notebook_id, question["question"], mode)
            rank = next(
                (i for i, p in enumerate(passages, start=1) if corpus.is_hit(p, target)), None
            )
            ranks[question["split"]][mode].append((_group(question), rank))
    return {split: _rank_figures(by_mode) for split, by_mode in ranks.items()}


def _rank_figures(by_mode: dict[str, list[tuple[str, int | None]]]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for mode, ranked in by_mode.items():
        para = [rank for group, rank in ranked if group == "paraphrased"]
        everything = [rank for _, rank in ranked]
        figures[mode] = {
            "n": len(everything),
            "recall_at_5": _recall(everything),
            "mrr_at_10": r(sum(1 / k for k in everything if k) / len(everything))
            if everything
            else None,
            "recall_at_5_paraphrased": _recall(para),
        }
    return figures


def _recall(ranks: list[int | None]) -> float | None:
    return r(sum(1 for k in ranks if k and k <= 5) / len(ranks)) if ranks else None


async def measure_chat(corpus: Corpus, questions: list[dict[str, Any]]) -> dict[str, Any]:
    """Per split: share of answerable questions answered with the evidence, share of
    unanswerable ones declined; examples of both kinds of miss for reading."""
    from learningtool.chat.answer import NO_ANSWER

    outcome: dict[str, dict[str, list[bool]]] = {s: defaultdict(list) for s in SPLITS}
    misses: list[dict[str, Any]] = []
    for question in questions:
        composed = await corpus.bench.compose(corpus.notebook_id, question["question"])
        text = composed.draft.text
        declined = text.startswith(NO_ANSWER)
        target = corpus.span(question)
        if target is None:
            good = declined
            outcome[question["split"]]["unanswerable_declined"].append(good)
        else:
            good = not declined and _quotes_evidence(composed, target)
            outcome[question["split"]]["answerable_with_evidence"].append(good)
            outcome[question["split"]]["answerable_declined"].append(declined)
        if not good and len(misses) < corpus.bench.args.examples:
            misses.append({"id": question["id"], "question": question["question"], "answer": text})
    figures = {
        split: {key: r(sum(values) / len(values)) for key, values in by_key.items() if values}
        for split, by_key in outcome.items()
    }
    return {**figures, "misses": misses}


def _quotes_evidence(composed: Any, target: tuple[str, tuple[int, int]]) -> bool:
    source_id, span = target
    for citation in composed.citations:
        if citation["source_id"] != source_id:
            continue
        quotes = citation["quotes"]
        if quotes and any(covers(q["start_char"], q["end_char"], span) for q in quotes):
            return True
        if not quotes and covers(citation["start_char"], citation["end_char"], span):
            return True  # an LLM answer cites passages, not sentences
    return False


async def measure_study(corpus: Corpus) -> dict[str, Any]:
    from bench import quality_junk as junk

    items = await corpus.bench.study_items(corpus.notebook_id)
    verdicts = [(item, junk.reason(item)) for item in items]
    bad = [(item, why) for item, why in verdicts if why]
    by_kind: dict[str, list[bool]] = defaultdict(list)
    for item, why in verdicts:
        by_kind[item["kind"]].append(why is not None)
    return {
        "items": len(items),
        "junk_rate": r(len(bad) / len(items)) if items else None,
        "junk_rate_by_kind": {k: r(sum(v) / len(v)) for k, v in sorted(by_kind.items())},
        "junk_examples": [
            {"why": why, **junk.shown(item)} for item, why in bad[: corpus.bench.args.examples]
        ],
        "detector_check": junk.check_labels(corpus.name),
        "sample": [junk.shown(item) for item in items[:: max(1, len(items) // 12)]][:12],
    }


async def measure_topics(bench: Bench, corpus: str, questions: list[dict[str, Any]]) -> Any:
    """Each document that test questions ask about, alone in a notebook: its topics."""
    from learningtool.topics import service as topics_service

    wanted = sorted({q["document"] for q in questions if q["split"] == "test" and q["document"]})
    result: dict[str, Any] = {"expected_per_document": topics_service.DEFAULT_COUNT}
    for document in wanted:
        path = next(p for p in documents(corpus) if p.name == document)
        notebook_id = await bench.notebook(f"{corpus}/{document}")
        await bench.upload(notebook_id, [path])
        await bench.drain()
        result[document] = await bench.topics(notebook_id)
    return result


async def tune(corpus: Corpus, questions: list[dict[str, Any]]) -> dict[str, Any]:
    """Dev questions only: recall@5 over a grid of fusion weights (through `search.fuse` on
    the service's own per-method scores), and for the offline answer the relevance of the
    best sentence of the passages chat retrieves, with whether it is the evidence: the
    material to choose `search.FUSION` and `relevance.thresholds` from."""
    from learningtool.chat import answer, relevance
    from learningtool.chat import service as chat_service
    from learningtool.knowledge import search

    context = corpus.bench.context
    dev = [q for q in questions if q["split"] == "dev"]
    grid = [
        search.Fusion(lexical=lexical, graph=graph)
        for lexical in (0.0, 0.02, 0.03, 0.04, 0.05, 0.07, 0.1, 0.2)
        for graph in (0.0, 0.01, 0.02, 0.05)
    ]
    found: dict[int, list[bool]] = defaultdict(list)
    best_sentences: list[dict[str, Any]] = []
    for question in dev:
        target = corpus.span(question)
        async with context.sessions() as session:
            scored = await search.rankings(
                session,
                context.retriever,
                corpus.notebook_id,
                question["question"],
                search.METHODS["hybrid"],
            )
            passages = await search.search(
                session,
                context.retriever,
                corpus.notebook_id,
                question["question"],
                k=chat_service.PASSAGES,
            )
        if target is not None:
            for index, fusion in enumerate(grid):
                fused = search.fuse(scored, fusion)
                top = sorted(fused, key=lambda chunk_id: (-fused[chunk_id], chunk_id))[:5]
                found[index].append(any(_chunk_hit(corpus, c, target) for c in top))
        candidates = relevance.candidates([answer.block(p) for p in passages])
        scores = await relevance.score(context.embedder, question["question"], candidates)
        if scores:
            best = max(range(len(scores)), key=scores.__getitem__)
            chosen = candidates[best]
            hit = (
                target is not None
                and passages[chosen.group].source_id == target[0]
                and covers(chosen.start, chosen.end, target[1])
            )
            best_sentences.append(
                {"answerable": target is not None, "best": r(scores[best]), "is_evidence": hit}
            )
    return {
        "fusion_recall_at_5": [
            {"lexical": f.lexical, "graph": f.graph, "recall_at_5": r(sum(v) / len(v))}
            for index, f in enumerate(grid)
            if (v := found[index])
        ],
        "best_sentence": best_sentences,
    }


async def cost(corpus: Corpus, questions: list[dict[str, Any]]) -> dict[str, Any]:
    """Wall time of a search alone and of a whole offline answer (the same search, then the
    sentences scored by meaning, the quotes checked), interleaved per question: the answer's
    own cost is the difference. Ratios matter; the machine is shared."""
    import statistics

    searched: list[float] = []
    answered: list[float] = []
    for question in questions[:30]:
        began = time.perf_counter()
        await corpus.bench.search(corpus.notebook_id, question["question"], "hybrid")
        searched.append(time.perf_counter() - began)
        began = time.perf_counter()
        await corpus.bench.compose(corpus.notebook_id, question["question"])
        answered.append(time.perf_counter() - began)
    search_ms, answer_ms = statistics.median(searched) * 1e3, statistics.median(answered) * 1e3
    return {
        "questions": len(searched),
        "search_p50_ms": r(search_ms, 1),
        "answer_p50_ms": r(answer_ms, 1),
        "answer_over_search": r(answer_ms / search_ms, 2),
    }


def _chunk_hit(corpus: Corpus, chunk_id: str, target: tuple[str, tuple[int, int]]) -> bool:
    source_id, start, end = corpus.chunks[chunk_id]
    return source_id == target[0] and covers(start, min(end, start + PASSAGE_CHARS), target[1])


def dump_sample(corpus: str, items: list[dict[str, Any]], count: int) -> None:
    """Write an evenly spaced sample of the items to label (`label` left null)."""
    from bench import quality_junk as junk

    step = max(1, len(items) // count)
    sample = [{**junk.shown(item), "label": None} for item in items[::step]][:count]
    path = junk.LABELS_DIR / f"{corpus}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({"corpus": corpus, "items": sample}, indent=1) + "\n")
    log(f"wrote {len(sample)} items to label in {path}")


# -- main --------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    load_before = loadavg()
    report: dict[str, Any] = {**identity("quality"), "corpora": {}}
    with tempfile.TemporaryDirectory(prefix="lt-quality-") as tmp:
        bench = Bench(args, Path(tmp))
        await bench.open()
        try:
            for name in args.corpus:
                log(f"{name}: ingesting")
                corpus = Corpus(bench, name)
                await corpus.load()
                questions = load_questions(name)
                entry: dict[str, Any] = {"ingest": corpus.ingest, "questions": len(questions)}
                if "cost" in args.parts:
                    log(f"{name}: cost of an offline answer")
                    entry["cost"] = await cost(corpus, questions)
                if "tune" in args.parts:
                    log(f"{name}: tuning on dev")
                    entry["tune_dev"] = await tune(corpus, questions)
                if "search" in args.parts:
                    log(f"{name}: search")
                    entry["search"] = await measure_search(corpus, questions)
                if "chat" in args.parts:
                    log(f"{name}: chat")
                    entry["chat"] = await measure_chat(corpus, questions)
                if "study" in args.parts:
                    entry["study"] = await measure_study(corpus)
                    if args.dump_sample:
                        dump_sample(name, await bench.study_items(corpus.notebook_id), 100)
                if "topics" in args.parts:
                    log(f"{name}: topics per document")
                    entry["topics"] = await measure_topics(bench, name, questions)
                report["corpora"][name] = entry
        finally:
            await bench.close()
    report["total"] = totals(report["corpora"])
    report["targets"] = TARGETS
    report["engine"] = "llm" if args.llm_base_url else "offline"
    report["machine"] = machine(load_before, loadavg())
    return report


def totals(corpora: dict[str, Any]) -> dict[str, Any]:
    """Question-weighted means over the corpora, per split."""
    total: dict[str, Any] = {}
    for split in SPLITS:
        sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        for entry in corpora.values():
            for mode, figures in entry.get("search", {}).get(split, {}).items():
                for key in ("recall_at_5", "mrr_at_10", "recall_at_5_paraphrased"):
                    if figures.get(key) is not None:
                        weight = figures["n"]
                        sums[f"search.{mode}.{key}"][0] += figures[key] * weight
                        sums[f"search.{mode}.{key}"][1] += weight
            for key, value in entry.get("chat", {}).get(split, {}).items():
                sums[f"chat.{key}"][0] += value
                sums[f"chat.{key}"][1] += 1
        total[split] = {key: r(s / n) for key, (s, n) in sorted(sums.items()) if n}
    junk_rates = [e["study"]["junk_rate"] for e in corpora.values() if e.get("study")]
    if junk_rates:
        total["study_junk_rate_max"] = max(rate for rate in junk_rates if rate is not None)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", action="append", choices=corpus_names())
    parser.add_argument(
        "--parts",
        default="search,chat,study,topics,cost",
        help="and `tune` (dev questions only)",
    )
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--examples", type=int, default=8, help="misses shown per corpus")
    parser.add_argument("--dump-sample", action="store_true", help="write items to label")
    parser.add_argument("--llm-base-url")
    parser.add_argument("--llm-model")
    parser.add_argument("--llm-api-key")
    args = parser.parse_args()
    args.corpus = args.corpus or corpus_names()
    args.parts = set(args.parts.split(","))
    args.modes = tuple(args.modes.split(","))
    if args.llm_base_url and not args.llm_model:
        parser.error("--llm-model is needed with --llm-base-url")
    emit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
