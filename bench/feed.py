"""Feed and review bench: feed page and card review latency at 100,000 feed items on SQLite
and PostgreSQL, and the offline study engine's time against its source's ingestion time.

Run from the repository root: `python bench/feed.py [--items N] [--cards C] ...`.
Prints one JSON document on stdout (progress goes to stderr). Nothing is asserted: every
target is reported with `met` true or false.

1. Data: one notebook holding `--items` feed items (default 100,000) in a realistic mix of
   kinds (chunks 64/95 of what is not a flashcard, summaries 10/95, Q&A 20/95, research
   1/95; `--cards` flashcards, default 5,000), with titles and bodies drawn from a pool of
   generated prose sentences (a tenth of them carry one of 400 made-up rare terms, so a
   rare-word search has few matches). Like the app writes them, the items of one source
   share one `created_at` (its chunks at ingestion, its study items a few seconds later:
   ties of tens of items), over a year of `--sources` sources; research items are
   spread alone. Every flashcard has its StudyItem and CardState (FSRS state after 0-3
   earlier reviews, with their CardReview rows). Rows are inserted in time order with bulk
   SQLAlchemy Core `executemany` on a synchronous connection in a thread, after the app
   created the local user and the notebook (fresh database per backend: a SQLite file in a
   temp dir; a `lt_bench_feed_<random>` PostgreSQL database created with psycopg
   autocommit and dropped at the end). PostgreSQL then gets `VACUUM ANALYZE` (the state
   autovacuum reaches on its own); SQLite gets nothing (the app never runs ANALYZE).
2. App: `create_app(Settings(data_dir=<tmp>, database_url, worker_enabled=False))` served by
   `uvicorn.Server.serve()` in this process on 127.0.0.1 (a free port; the listener made
   with IPPROTO_TCP, see bench/common.py), on the loop uvicorn picks (`--loop auto`: uvloop
   when installed); an httpx.AsyncClient on the same loop, one request at a time. The
   worker is off in this phase so that nothing but the measured requests runs.
3. Feed cases (`limit=30`), each `--warmup` untimed calls then up to `--requests` timed
   ones (or `--case-budget-s` seconds, whichever comes first), first over HTTP (request
   sent to body received; JSON decoding not timed) and then at the service level
   (`feed.service.page` / `counts` on a fresh session from the app's sessionmaker, the
   session's connection checkout included), with the same arguments in the same order.
   HTTP minus service is the HTTP overhead (auth, notebook lookup, serialisation, the
   client). Baselines: `GET /healthz` and `GET /api/v1/notebooks/{id}` (auth + notebook).
4. Reviews: `POST /notebooks/{id}/cards/{item_id}/review` on `--reviews` distinct cards
   with ratings again/hard/good/easy at 10/15/60/15 %, then `study.service.review` + commit
   on as many other distinct cards at the service level.
5. Loop lag: the app's `LoopLagMonitor` (`app.state.lag_monitor`, 50 ms) samples whose
   wake-up falls inside each case; the client shares the loop, so its work counts too.
6. Study vs ingestion: another app (SQLite, `worker_enabled=True`, default settings: the
   local embedder, the graph) ingests `--study-runs` + 1 PDFs of `--study-pages` pages
   (bench.ingest.make_pdf: tests/ingestion/builders.pdf_bytes, prose paragraphs; variants
   differ by their first line). Ingestion = upload start to the ingest job's `finished_at`
   (the transaction that makes the source ready and enqueues `study.generate`); study =
   that moment to the `study.generate` job's `finished_at`. Run 0 is cold (the process
   pools spawn on first use) and is reported apart; the target uses the warm median.
`--explain` adds each feed case's SQL and its plan (EXPLAIN QUERY PLAN on SQLite,
EXPLAIN (ANALYZE, BUFFERS) on PostgreSQL), captured from a service-level call.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # `bench.ingest`

# Light imports only at module level: the process pools' spawned children import this
# script again (as `__mp_main__`), so the service stack is imported inside functions.
from bench import common  # noqa: E402
from bench.common import API, PG_ADMIN_URL_DEFAULT, log, percentile, r  # noqa: E402

TARGETS = {
    "feed_page_p99_ms_max": 20.0,
    "review_p99_ms_max": 20.0,
    "study_vs_ingestion_ratio_max": 2.0,
}
PAGE_LIMIT = 30
CHAIN_PAGES = 50
RATING_WEIGHTS = {"again": 10, "hard": 15, "good": 60, "easy": 15}
OTHER_KINDS = {"chunk": 64, "summary": 10, "qa": 20, "research": 1}  # of what is not a card
COMMON_WORD = "energy"
TWO_WORDS = "membrane transport"


def summary_ms(seconds: list[float]) -> dict[str, Any]:
    return common.ms_stats(seconds, ("count", "p50", "p90", "p99", "max", "mean"))


# -- data set ---------------------------------------------------------------------------------


@dataclass
class Dataset:
    sources: list[dict[str, Any]]
    feed: list[dict[str, Any]]
    study: list[dict[str, Any]]
    states: list[dict[str, Any]]
    reviews: list[dict[str, Any]]
    cards: list[str]
    rare_term: str
    prior_reviews: dict[str, int]
    describe: dict[str, Any] = field(default_factory=dict)

    def set_notebook(self, notebook_id: str) -> None:
        for rows in (self.sources, self.feed, self.study, self.states):
            for row in rows:
                row["notebook_id"] = notebook_id


def _rare_terms(rng: random.Random, count: int, vocabulary: set[str]) -> list[str]:
    syllables = "ka lo ri ven tor mi sul pha dex qua zen bro lit cam nor vid yel".split()
    terms: set[str] = set()
    while len(terms) < count:
        word = "".join(rng.choice(syllables) for _ in range(3)) + rng.choice(("ine", "ase", "ol"))
        if word not in vocabulary:
            terms.add(word)
    return sorted(terms)


def build_dataset(items: int, cards: int, sources: int, seed: int) -> Dataset:
    from bench.ingest import VOCABULARY
    from learningtool.models.base import new_id
    from learningtool.study import schedule

    started = time.perf_counter()
    rng = random.Random(seed)
    vocabulary = list(VOCABULARY)

    def sentence() -> str:
        words = [rng.choice(vocabulary) for _ in range(rng.randint(8, 24))]
        words[0] = words[0].capitalize()
        return " ".join(words) + rng.choice(".....?")

    pool = [sentence() for _ in range(6000)]
    rare = _rare_terms(rng, 400, set(vocabulary))
    rare_of: list[str | None] = [None] * len(pool)  # the rare term a pool sentence carries
    for index in rng.sample(range(len(pool)), len(pool) // 10):
        words = pool[index].split()
        rare_of[index] = rng.choice(rare)
        words.insert(rng.randrange(1, len(words)), rare_of[index])
        pool[index] = " ".join(words)
    indexes = range(len(pool))
    carried: set[str] = set()  # rare terms of the item being built

    def pick() -> str:
        index = rng.randrange(len(pool))
        if rare_of[index]:
            carried.add(rare_of[index])  # type: ignore[arg-type]
        return pool[index]

    def prose(low: int, high: int) -> str:
        chosen = rng.choices(indexes, k=rng.randint(low, high))
        carried.update(rare_of[i] for i in chosen if rare_of[i])  # type: ignore[misc]
        return " ".join(pool[i] for i in chosen)

    def heading() -> str:
        return " ".join(rng.choice(vocabulary) for _ in range(rng.randint(2, 5))).title()

    now = datetime.now(UTC) - timedelta(minutes=5)
    year = 365 * 86400
    source_rows = []
    times = sorted(now - timedelta(seconds=rng.uniform(0, year)) for _ in range(sources))
    for number, moment in enumerate(times):
        title = f"{heading()} ({number + 1})"
        source_rows.append(
            {
                "id": new_id(),
                "notebook_id": "",
                "kind": "file",
                "title": title,
                "media_type": "application/pdf",
                "content_hash": uuid.uuid4().hex + uuid.uuid4().hex,
                "original_name": f"{title}.pdf",
                "status": "ready",
                "progress": 1.0,
                "created_at": moment,
                "updated_at": moment,
            }
        )
    study_at = [row["created_at"] + timedelta(seconds=rng.uniform(2, 40)) for row in source_rows]

    rest = items - cards
    weight = sum(OTHER_KINDS.values())
    kind_counts = {kind: rest * share // weight for kind, share in OTHER_KINDS.items()}
    kind_counts["chunk"] += rest - sum(kind_counts.values())
    kind_counts["flashcard"] = cards

    feed: list[dict[str, Any]] = []
    study: list[dict[str, Any]] = []
    rare_hits: Counter[str] = Counter()
    for kind, count in kind_counts.items():
        for _ in range(count):
            src = rng.randrange(sources)
            source = source_rows[src]
            ref = new_id()
            carried.clear()
            if kind == "chunk":
                title, body = f"{source['title']} > {heading()}", prose(5, 9)
            elif kind == "summary":
                title, body = f"Summary: {source['title']}", prose(3, 6)
            elif kind == "qa":
                title, body = pick().rstrip(".?") + "?", prose(1, 2)
            elif kind == "flashcard":
                words = pick().split()
                hole = rng.randrange(len(words))
                body = words[hole].strip(".,?")
                words[hole] = "_____"
                title = " ".join(words)
            else:
                title, body = f"Research: {heading()}", prose(12, 30)
            rare_hits.update(carried)
            if kind == "chunk":
                created = source["created_at"]
            elif kind == "research":
                created = now - timedelta(seconds=rng.uniform(0, year))
            else:
                created = study_at[src]
            feed.append(
                {
                    "id": new_id(),
                    "notebook_id": "",
                    "source_id": None if kind == "research" else source["id"],
                    "kind": kind,
                    "ref_id": ref,
                    "title": title[:500],
                    "body": body,
                    "created_at": created,
                }
            )
            if kind == "flashcard":
                start = rng.randrange(0, 200_000)
                study.append(
                    {
                        "id": ref,
                        "notebook_id": "",
                        "source_id": source["id"],
                        "chunk_id": None,
                        "kind": "flashcard",
                        "payload": {
                            "front": title,
                            "back": body,
                            "style": "cloze",
                            "answer_span": {"chunk_id": None, "start": start, "end": start + 9},
                        },
                        "start_char": start,
                        "end_char": start + 400,
                        "engine": "offline",
                        "created_at": created,
                        "updated_at": created,
                    }
                )
    feed.sort(key=lambda row: (row["created_at"], row["id"]))

    states: list[dict[str, Any]] = []
    reviews: list[dict[str, Any]] = []
    prior: Counter[int] = Counter()
    ratings = list(RATING_WEIGHTS)
    weights = list(RATING_WEIGHTS.values())
    for item in study:
        fresh = schedule.new_card_state(item["created_at"], card_id=0)
        state, due_at = fresh.state, fresh.due_at
        stability = difficulty = last = None
        moment = item["created_at"] + timedelta(hours=rng.uniform(1, 72))
        done = 0
        for _ in range(rng.choices((0, 1, 2, 3), (40, 25, 20, 15))[0]):
            if moment >= now:
                break
            rating = rng.choices(ratings, weights)[0]
            result = schedule.review(state, rating, moment, review_duration_ms=4000)
            reviews.append(
                {
                    "id": new_id(),
                    "item_id": item["id"],
                    "rating": schedule.RATINGS[rating].value,
                    "reviewed_at": moment,
                    "log": result.review_log,
                }
            )
            state, due_at = result.state, result.due_at
            stability, difficulty, last = result.stability, result.difficulty, moment
            done += 1
            moment = max(result.due_at, moment + timedelta(minutes=10))
        prior[done] += 1
        states.append(
            {
                "item_id": item["id"],
                "notebook_id": "",
                "fsrs": state,
                "due_at": due_at,
                "stability": stability,
                "difficulty": difficulty,
                "reps": int(state.get("reps", 0)),
                "last_review_at": last,
                "suspended": False,
                "updated_at": last or item["created_at"],
            }
        )

    # A rare term in about 40 items (the flashcard's hidden word may be one: approximate).
    rare_term, rare_count = min(rare_hits.items(), key=lambda kv: (abs(kv[1] - 40), kv[0]))
    ties = Counter(row["created_at"] for row in feed)
    cards_list = [row["id"] for row in study]
    rng.shuffle(cards_list)
    describe = {
        "items": len(feed),
        "kinds": dict(Counter(row["kind"] for row in feed)),
        "sources": sources,
        "time_span_days": 365,
        "distinct_created_at": len(ties),
        "largest_tie_group": max(ties.values()),
        "items_in_tie_groups_of_2_plus": sum(n for n in ties.values() if n > 1),
        "body_chars_mean_by_kind": {
            kind: round(statistics.fmean(len(row["body"]) for row in feed if row["kind"] == kind))
            for kind in kind_counts
        },
        "total_text_mb": round(sum(len(row["body"]) + len(row["title"]) for row in feed) / 1e6, 1),
        "flashcards": len(study),
        "cards_by_prior_reviews": {str(k): prior[k] for k in sorted(prior)},
        "card_reviews_rows": len(reviews),
        "q_terms_approx_item_matches": {
            "rare": {"q": rare_term, "items_containing": rare_count},
            "common": {
                "q": COMMON_WORD,
                "items_containing": sum(
                    1 for row in feed if COMMON_WORD in row["body"] or COMMON_WORD in row["title"]
                ),
            },
            "two_words": {
                "q": TWO_WORDS,
                "items_containing_both": sum(
                    1
                    for row in feed
                    if all(w in row["title"] + " " + row["body"] for w in TWO_WORDS.split())
                ),
            },
        },
        "generate_s": r(time.perf_counter() - started, 2),
    }
    prior_reviews = {row["item_id"]: row["reps"] for row in states}
    return Dataset(
        source_rows, feed, study, states, reviews, cards_list, rare_term, prior_reviews, describe
    )


# -- databases --------------------------------------------------------------------------------


def fresh_database(backend: str, tmp: Path, pg_admin_url: str) -> common.Database:
    """A fresh database: a SQLite file in `tmp`, or a PostgreSQL database dropped on exit.
    The app migrates it (its lifespan does)."""
    return common.Database(
        backend, tmp, pg_admin_url, pg_prefix="lt_bench_feed_", sqlite_file="feed-bench.db"
    )


def populate(url: str, data: Dataset) -> dict[str, Any]:
    """Bulk insert the data set on a synchronous connection (run in a thread)."""
    from sqlalchemy import create_engine, insert, text

    from learningtool.db import sync_url
    from learningtool.models import CardReview, CardState, FeedItem, Source, StudyItem

    batch = 5000
    sqlite = url.startswith("sqlite")
    engine = create_engine(sync_url(url), connect_args={"timeout": 60} if sqlite else {})
    timings: dict[str, Any] = {}
    try:
        started = time.perf_counter()
        with engine.begin() as connection:
            for model, rows in (
                (Source, data.sources),
                (FeedItem, data.feed),
                (StudyItem, data.study),
                (CardState, data.states),
                (CardReview, data.reviews),
            ):
                began = time.perf_counter()
                for first in range(0, len(rows), batch):
                    connection.execute(insert(model), rows[first : first + batch])
                timings[f"insert_{model.__tablename__}_s"] = r(time.perf_counter() - began, 2)
        timings["insert_total_s"] = r(time.perf_counter() - started, 2)
        if not sqlite:
            began = time.perf_counter()
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                for table in (
                    "sources",
                    "feed_items",
                    "study_items",
                    "card_states",
                    "card_reviews",
                ):
                    connection.execute(text(f"VACUUM ANALYZE {table}"))
            timings["vacuum_analyze_s"] = r(time.perf_counter() - began, 2)
        with engine.connect() as connection:
            if sqlite:
                timings["sqlite_stat1"] = bool(
                    connection.execute(
                        text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")
                    ).first()
                )
                pages = connection.execute(text("PRAGMA page_count")).scalar_one()
                size = connection.execute(text("PRAGMA page_size")).scalar_one()
                timings["db_mb"] = r(pages * size / 1e6, 1)
            else:
                timings["db_mb"] = r(
                    connection.execute(
                        text("SELECT pg_database_size(current_database())")
                    ).scalar_one()
                    / 1e6,
                    1,
                )
                timings["feed_items_mb"] = r(
                    connection.execute(
                        text("SELECT pg_total_relation_size('feed_items')")
                    ).scalar_one()
                    / 1e6,
                    1,
                )
    finally:
        engine.dispose()
    return timings


# -- the app under uvicorn --------------------------------------------------------------------


@contextlib.asynccontextmanager
async def served(settings: Any) -> AsyncIterator[tuple[Any, Any]]:
    """The real app under uvicorn on 127.0.0.1 and an httpx client with the local token.
    Stopping the server runs the lifespan's shutdown (worker, monitor, context)."""
    from learningtool.main import create_app

    app = create_app(settings)
    async with (
        common.serve_app(app, start_seconds=120, stop_seconds=60) as server,
        common.local_client(settings, server.port) as client,
    ):
        yield app, client


def app_settings(data_dir: Path, url: str | None, *, worker: bool) -> Any:
    from learningtool.config import Settings

    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=data_dir,
        database_url=url,
        worker_enabled=worker,
        log_level="WARNING",
    )


def lag_in(app: Any, start: float, end: float) -> list[float]:
    return common.lag_window(app.state.lag_monitor, start, end)


# -- timing -----------------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    what: str
    kinds: tuple[str, ...] = ()
    q: str | None = None
    cursors: list[str] | None = None  # rotated over the calls
    chain: int = 0  # follow next_cursor for `chain` pages, then start again
    counts: bool = False

    def params(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"limit": PAGE_LIMIT}
        if self.kinds:
            shown["kind"] = list(self.kinds)
        if self.q:
            shown["q"] = self.q
        if self.chain:
            shown["follow_cursor_pages"] = self.chain
        if self.cursors:
            shown["fixed_cursors"] = len(self.cursors)
        return shown


Fetch = Callable[[Case, str | None], Awaitable[tuple[float, str | None]]]


async def run_case(
    case: Case, fetch: Fetch, requests: int, warmup: int, budget_s: float
) -> tuple[list[float], list[int]]:
    """Warm-up calls, then timed ones; returns the latencies and each call's page depth."""
    cursor: str | None = None
    depth = 0
    samples: list[float] = []
    depths: list[int] = []

    async def one(index: int) -> float:
        nonlocal cursor, depth
        if case.cursors:
            cursor = case.cursors[index % len(case.cursors)]
        elif case.chain and (depth >= case.chain or (depth and cursor is None)):
            cursor, depth = None, 0
        seconds, following = await fetch(case, cursor)
        depth += 1
        if case.chain:
            cursor = following
        return seconds

    for index in range(warmup):
        await one(index)
    if case.chain:
        cursor, depth = None, 0
    began = time.perf_counter()
    for index in range(requests):
        samples.append(await one(index))
        depths.append(depth)
        if time.perf_counter() - began > budget_s:
            break
    return samples, depths


def http_fetch(client: Any, notebook: str) -> Fetch:
    async def fetch(case: Case, cursor: str | None) -> tuple[float, str | None]:
        if case.counts:
            started = time.perf_counter()
            response = await client.get(f"{API}/notebooks/{notebook}/feed/counts")
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise RuntimeError(f"counts answered {response.status_code}: {response.text}")
            return elapsed, None
        params: list[tuple[str, str | int]] = [("limit", PAGE_LIMIT)]
        params += [("kind", kind) for kind in case.kinds]
        if case.q:
            params.append(("q", case.q))
        if cursor:
            params.append(("cursor", cursor))
        started = time.perf_counter()
        response = await client.get(f"{API}/notebooks/{notebook}/feed", params=params)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"feed answered {response.status_code}: {response.text[:300]}")
        body = response.json()
        if not body["items"]:
            raise RuntimeError(f"{case.name}: an empty page")
        return elapsed, body["next_cursor"]

    return fetch


def service_fetch(app: Any, notebook: str) -> Fetch:
    from learningtool.feed import service

    sessions = app.state.context.sessions

    async def fetch(case: Case, cursor: str | None) -> tuple[float, str | None]:
        started = time.perf_counter()
        async with sessions() as session:
            if case.counts:
                await service.counts(session, notebook)
                return time.perf_counter() - started, None
            page = await service.page(
                session, notebook, cursor=cursor, limit=PAGE_LIMIT, kinds=case.kinds, q=case.q
            )
        elapsed = time.perf_counter() - started
        if not page.items:
            raise RuntimeError(f"{case.name}: an empty page")
        return elapsed, page.next_cursor

    return fetch


async def deep_cursors(app: Any, notebook: str, count: int, low: float) -> list[str]:
    """Cursors of items at offsets spread over [low, 1) of the timeline: what a page
    request carries after scrolling that far (keyset: no OFFSET is involved)."""
    from sqlalchemy import select

    from learningtool.feed.service import encode_cursor
    from learningtool.models import FeedItem

    async with app.state.context.sessions() as session:
        rows = (
            await session.execute(
                select(FeedItem.created_at, FeedItem.id)
                .where(FeedItem.notebook_id == notebook)
                .order_by(FeedItem.created_at.desc(), FeedItem.id.desc())
            )
        ).all()
    total = len(rows)
    offsets = [int(total * (low + (1 - low) * i / count)) for i in range(count)]
    random.Random(7).shuffle(offsets)
    return [encode_cursor(rows[min(o, total - PAGE_LIMIT - 2)]) for o in offsets]  # type: ignore[arg-type]


async def explain(app: Any, notebook: str, case: Case) -> dict[str, Any]:
    """The statement(s) one service-level call sends, and their plans."""
    from sqlalchemy import event

    from learningtool.feed import service

    engine = app.state.context.engine
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        captured.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        async with app.state.context.sessions() as session:
            if case.counts:
                await service.counts(session, notebook)
            else:
                cursor = case.cursors[0] if case.cursors else None
                await service.page(
                    session, notebook, cursor=cursor, limit=PAGE_LIMIT, kinds=case.kinds, q=case.q
                )
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
    sqlite = engine.dialect.name == "sqlite"
    prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN (ANALYZE, BUFFERS) "
    plans = []
    async with engine.connect() as connection:
        for statement, parameters in captured:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            try:
                result = await connection.exec_driver_sql(prefix + statement, parameters)
                rows = result.all()
                plan = [" ".join(str(v) for v in row[-1:]) for row in rows]
            except Exception as error:  # a plan is informational
                plan = [f"{type(error).__name__}: {error}"]
            plans.append({"sql": " ".join(statement.split()), "plan": plan})
    return {"statements": plans}


# -- one backend ------------------------------------------------------------------------------


async def bench_backend(
    backend: str, url: str, data_dir: Path, data: Dataset, args: argparse.Namespace
) -> dict[str, Any]:
    from learningtool.models import Notebook
    from learningtool.study import service as study_service

    result: dict[str, Any] = {}
    loop = asyncio.get_running_loop()
    async with served(app_settings(data_dir, url, worker=False)) as (app, client):
        created = await client.post(f"{API}/notebooks", json={"name": "Feed bench"})
        created.raise_for_status()
        notebook = created.json()["id"]
        data.set_notebook(notebook)
        log(f"{backend}: inserting {len(data.feed)} feed items and {len(data.study)} cards")
        result["populate"] = await asyncio.to_thread(populate, url, data)
        log(f"{backend}: populated {result['populate']}")

        cases = [
            Case("first_page", "the newest page"),
            Case(
                "follow_cursor_50_pages",
                f"pages 1 to {CHAIN_PAGES} in a row, each with the previous next_cursor",
                chain=CHAIN_PAGES,
            ),
            Case(
                "deep_cursor_50_to_100pct",
                "one page after a cursor taken at a random depth between 50% and 100% of "
                "the timeline (20 such cursors, rotated)",
                cursors=await deep_cursors(app, notebook, 20, 0.5),
            ),
            Case("kind_flashcard", "first page of kind=flashcard (5% of items)", ("flashcard",)),
            Case(
                "kind_flashcard_deep",
                "kind=flashcard, pages 1 to 50 following cursors",
                ("flashcard",),
                chain=CHAIN_PAGES,
            ),
            Case(
                "kind_qa_and_flashcard", "first page of kind=qa&kind=flashcard", ("qa", "flashcard")
            ),
            Case("q_rare", f"first page of q={data.rare_term} (a rare term)", q=data.rare_term),
            Case("q_common", f"first page of q={COMMON_WORD} (in most items)", q=COMMON_WORD),
            Case("q_two_words", f"first page of q={TWO_WORDS}", q=TWO_WORDS),
            Case("q_kind", f"q={COMMON_WORD} and kind=qa", ("qa",), q=COMMON_WORD),
            Case("counts", "GET .../feed/counts (items per kind)", counts=True),
        ]
        http, service = http_fetch(client, notebook), service_fetch(app, notebook)

        baselines: dict[str, Any] = {}
        for name, path in (
            ("healthz", "/healthz"),
            ("get_notebook", f"{API}/notebooks/{notebook}"),
        ):
            samples = []
            for index in range(args.warmup + args.requests):
                started = time.perf_counter()
                response = await client.get(path)
                elapsed = time.perf_counter() - started
                response.raise_for_status()
                if index >= args.warmup:
                    samples.append(elapsed)
            baselines[name] = summary_ms(samples)
        result["http_baselines_ms"] = baselines

        feed: dict[str, Any] = {}
        all_lag: list[float] = []
        for case in cases:
            entry: dict[str, Any] = {"what": case.what, "params": case.params()}
            for level, fetch in (("http", http), ("service", service)):
                start = loop.time()
                samples, depths = await run_case(
                    case, fetch, args.requests, args.warmup, args.case_budget_s
                )
                lag = lag_in(app, start, loop.time())
                all_lag += lag
                entry[f"{level}_ms"] = summary_ms(samples)
                entry[f"{level}_lag_max_ms"] = r(max(lag, default=0.0) * 1000, 2)
                if case.chain:
                    by_depth = {
                        "pages_1_10": [s for s, d in zip(samples, depths, strict=True) if d <= 10],
                        "pages_41_50": [s for s, d in zip(samples, depths, strict=True) if d > 40],
                    }
                    entry[f"{level}_p50_by_depth_ms"] = {
                        k: r(percentile([v * 1000 for v in vs], 50)) for k, vs in by_depth.items()
                    }
            http_p50, service_p50 = entry["http_ms"]["p50"], entry["service_ms"]["p50"]
            if http_p50 is not None and service_p50 is not None:
                entry["http_overhead_p50_ms"] = r(http_p50 - service_p50)
            if args.explain:
                entry["explain"] = await explain(app, notebook, case)
            feed[case.name] = entry
            log(
                f"{backend}: {case.name}: http p50 {entry['http_ms']['p50']} p99 "
                f"{entry['http_ms']['p99']} ms (n={entry['http_ms']['count']}); service p50 "
                f"{entry['service_ms']['p50']} p99 {entry['service_ms']['p99']} ms"
            )
        result["feed"] = feed

        # Reviews: distinct cards, a mix of ratings.
        rng = random.Random(11)
        ratings = rng.choices(
            list(RATING_WEIGHTS), list(RATING_WEIGHTS.values()), k=len(data.cards)
        )
        needed = 2 * (args.warmup + args.reviews)
        if needed > len(data.cards):
            raise RuntimeError(f"{needed} distinct cards are needed, {len(data.cards)} exist")
        http_cards = list(zip(data.cards, ratings, strict=True))[: args.warmup + args.reviews]
        service_cards = list(zip(data.cards, ratings, strict=True))[args.warmup + args.reviews :]
        start = loop.time()
        http_samples = []
        for index, (card, rating) in enumerate(http_cards):
            started = time.perf_counter()
            response = await client.post(
                f"{API}/notebooks/{notebook}/cards/{card}/review",
                json={"rating": rating, "duration_ms": rng.randint(1500, 15000)},
            )
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise RuntimeError(f"review answered {response.status_code}: {response.text}")
            if index >= args.warmup:
                http_samples.append(elapsed)
        review_http_lag = lag_in(app, start, loop.time())
        sessions = app.state.context.sessions
        async with sessions() as session:
            notebook_row = await session.get(Notebook, notebook)
        start = loop.time()
        service_samples = []
        for index, (card, rating) in enumerate(service_cards[: args.warmup + args.reviews]):
            started = time.perf_counter()
            async with sessions() as session:
                await study_service.review(
                    session, notebook_row, card, rating, duration_ms=rng.randint(1500, 15000)
                )
                await session.commit()
            elapsed = time.perf_counter() - started
            if index >= args.warmup:
                service_samples.append(elapsed)
        review_service_lag = lag_in(app, start, loop.time())
        measured = http_cards[args.warmup :]
        result["review"] = {
            "what": "POST /api/v1/notebooks/{id}/cards/{item_id}/review, one distinct card "
            "per call; service: study.service.review + commit on a fresh session",
            "ratings": dict(Counter(rating for _, rating in measured)),
            "cards_with_prior_reviews": sum(
                1 for card, _ in measured if data.prior_reviews.get(card, 0) > 0
            ),
            "http_ms": summary_ms(http_samples),
            "service_ms": summary_ms(service_samples),
            "http_lag_max_ms": r(max(review_http_lag, default=0.0) * 1000, 2),
            "service_lag_max_ms": r(max(review_service_lag, default=0.0) * 1000, 2),
        }
        log(f"{backend}: review http {result['review']['http_ms']}")
        all_lag += review_http_lag + review_service_lag
        result["loop_lag_ms"] = {
            "interval_ms": app.state.lag_monitor.interval * 1000,
            "during_all_cases": summary_ms(all_lag),
            "note": "app.state.lag_monitor samples during the measured calls (client on the "
            "same loop); populate (in a thread) excluded",
        }
    return result


# -- study material vs ingestion --------------------------------------------------------------


async def _study_job_id(app: Any, notebook: str, source_id: str) -> str:
    from sqlalchemy import select

    from learningtool.models import Job
    from learningtool.study.tasks import STUDY_JOB

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        async with app.state.context.sessions() as session:
            jobs = (
                await session.scalars(
                    select(Job).where(Job.kind == STUDY_JOB, Job.notebook_id == notebook)
                )
            ).all()
        for job in jobs:
            if job.payload.get("source_id") == source_id:
                return job.id
        await asyncio.sleep(0.05)
    raise TimeoutError("no study.generate job for the source")


def _at(value: str | None) -> datetime:
    if not value:
        raise RuntimeError("a job timestamp is missing")
    return datetime.fromisoformat(value)


async def bench_study(data_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    from bench.ingest import make_pdf

    pdfs = [make_pdf(args.study_pages, 450, variant) for variant in range(args.study_runs + 1)]
    loop = asyncio.get_running_loop()
    runs = []
    async with served(app_settings(data_dir, None, worker=True)) as (app, client):
        created = await client.post(f"{API}/notebooks", json={"name": "Study bench"})
        created.raise_for_status()
        notebook = created.json()["id"]
        for index, data in enumerate(pdfs):
            label = "cold" if index == 0 else f"warm-{index}"
            log(f"study run {label}")
            loop_start = loop.time()
            wall_start = time.time()
            started = time.perf_counter()
            response = await client.post(
                f"{API}/notebooks/{notebook}/sources",
                files={"file": (f"{label}.pdf", data, "application/pdf")},
            )
            if response.status_code != 202:
                raise RuntimeError(f"upload answered {response.status_code}: {response.text}")
            body = response.json()
            ingest = await common.follow_job(client, body["job"]["id"])
            client_ready = time.perf_counter()
            if ingest["state"] != "succeeded":
                raise RuntimeError(f"ingestion ended {ingest['state']}: {ingest.get('error')}")
            study_id = await _study_job_id(app, notebook, body["source"]["id"])
            study = await common.follow_job(client, study_id)
            client_done = time.perf_counter()
            if study["state"] != "succeeded":
                raise RuntimeError(f"study ended {study['state']}: {study.get('error')}")
            ready = _at(ingest["finished_at"])
            ingestion_s = ready.timestamp() - wall_start
            study_s = (_at(study["finished_at"]) - ready).total_seconds()
            lag = lag_in(app, loop_start, loop.time())
            runs.append(
                {
                    "label": label,
                    "ingestion_s": r(ingestion_s),
                    "study_s": r(study_s),
                    "ratio_study_over_ingestion": r(study_s / ingestion_s),
                    "chunks": (ingest.get("result") or {}).get("chunks"),
                    "study_result": study.get("result"),
                    "study_timeline_ms": {
                        "ready_to_claimed": r(
                            (_at(study["started_at"]) - ready).total_seconds() * 1000, 1
                        ),
                        "claimed_to_finished": r(
                            (_at(study["finished_at"]) - _at(study["started_at"])).total_seconds()
                            * 1000,
                            1,
                        ),
                    },
                    "ingest_timeline_ms": {
                        "queued_to_claimed": r(
                            (_at(ingest["started_at"]) - _at(ingest["created_at"])).total_seconds()
                            * 1000,
                            1,
                        ),
                        "claimed_to_finished": r(
                            (_at(ingest["finished_at"]) - _at(ingest["started_at"])).total_seconds()
                            * 1000,
                            1,
                        ),
                    },
                    "client_view_s": {
                        "upload_to_ingest_event": r(client_ready - started),
                        "ingest_event_to_study_event": r(client_done - client_ready),
                    },
                    "lag_max_ms": r(max(lag, default=0.0) * 1000, 2),
                }
            )
            log(f"  ingestion {ingestion_s:.2f} s, study {study_s:.2f} s")
    warm = runs[1:]
    return {
        "what": f"{args.study_pages}-page PDF (bench.ingest.make_pdf, ~450 words a page) "
        "uploaded to the app (SQLite, worker on, default settings); ingestion = upload "
        "start to the ingest job's finished_at (source ready); study = source ready to the "
        "study.generate job's finished_at",
        "pdf_bytes": len(pdfs[0]),
        "cold_run": runs[0],
        "warm_runs": warm,
        "warm_median_ingestion_s": r(statistics.median(run["ingestion_s"] for run in warm)),
        "warm_median_study_s": r(statistics.median(run["study_s"] for run in warm)),
        "warm_median_ratio": r(
            statistics.median(run["ratio_study_over_ingestion"] for run in warm)
        ),
    }


# -- targets and main -------------------------------------------------------------------------


def targets(backends: dict[str, Any], study: dict[str, Any] | None) -> dict[str, Any]:
    page_limit = TARGETS["feed_page_p99_ms_max"]
    pages: dict[str, Any] = {}
    counts: dict[str, Any] = {}
    reviews: dict[str, Any] = {}
    for backend, result in backends.items():
        for name, entry in result.get("feed", {}).items():
            key = f"{backend}/{name}"
            value = {"http_p99": entry["http_ms"]["p99"], "service_p99": entry["service_ms"]["p99"]}
            (counts if name == "counts" else pages)[key] = value
        if "review" in result:
            reviews[backend] = {
                "http_p99": result["review"]["http_ms"]["p99"],
                "service_p99": result["review"]["service_ms"]["p99"],
            }

    def met(values: dict[str, Any], limit: float) -> dict[str, bool]:
        return {k: v["http_p99"] is not None and v["http_p99"] <= limit for k, v in values.items()}

    page_met = met(pages, page_limit)
    review_met = met(reviews, TARGETS["review_p99_ms_max"])
    result: dict[str, Any] = {
        "feed_page_p99": {
            "target": f"<= {page_limit:g} ms at 100,000 items (HTTP, every page case, both "
            "backends)",
            "values_ms": pages,
            "met_by": page_met,
            "met": bool(page_met) and all(page_met.values()) and len(backends) == 2,
        },
        "feed_counts_p99": {
            "note": "informational (no target of its own); same 20 ms bar shown",
            "values_ms": counts,
            "within_20_ms": met(counts, page_limit),
        },
        "review_p99": {
            "target": f"<= {TARGETS['review_p99_ms_max']:g} ms (HTTP, both backends)",
            "values_ms": reviews,
            "met_by": review_met,
            "met": bool(review_met) and all(review_met.values()) and len(backends) == 2,
        },
    }
    if study is not None:
        ratio = study["warm_median_ratio"]
        limit = TARGETS["study_vs_ingestion_ratio_max"]
        result["study_vs_ingestion_ratio"] = {
            "target": f"study material ready within {limit:g}x its ingestion time",
            "value": ratio,
            "max": limit,
            "met": ratio is not None and ratio <= limit,
            "basis": "median over the warm runs of study_s / ingestion_s",
            "cold_run_ratio": study["cold_run"]["ratio_study_over_ingestion"],
            "warm_runs_max_ratio": max(
                run["ratio_study_over_ingestion"] for run in study["warm_runs"]
            ),
        }
    else:
        result["study_vs_ingestion_ratio"] = {"met": False, "note": "not measured"}
    return result


async def run_all(args: argparse.Namespace, tmp: Path, data: Dataset) -> dict[str, Any]:
    backends: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for backend in args.backends:
        log(f"{backend}: fresh database")
        directory = tmp / backend
        directory.mkdir()
        try:
            with fresh_database(backend, directory, args.pg_admin_url) as database:
                began = time.perf_counter()
                backends[backend] = await bench_backend(
                    backend, database.url, directory / "data", data, args
                )
                backends[backend]["backend_seconds"] = r(time.perf_counter() - began, 1)
        except Exception as error:
            import traceback

            log(traceback.format_exc())
            errors[backend] = f"{type(error).__name__}: {error}"
    study = None
    if args.study_runs > 0:
        try:
            began = time.perf_counter()
            study = await bench_study(tmp / "study", args)
            study["phase_seconds"] = r(time.perf_counter() - began, 1)
        except Exception as error:
            import traceback

            log(traceback.format_exc())
            errors["study"] = f"{type(error).__name__}: {error}"
    return {"backends": backends, "study": study, "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--cards", type=int, default=5_000)
    parser.add_argument("--sources", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=200, help="timed calls per case")
    parser.add_argument("--warmup", type=int, default=10, help="untimed calls per case")
    parser.add_argument("--case-budget-s", type=float, default=6.0, help="cap per case and level")
    parser.add_argument("--reviews", type=int, default=200)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL_DEFAULT)
    parser.add_argument("--study-pages", type=int, default=20)
    parser.add_argument("--study-runs", type=int, default=3, help="warm runs (plus one cold)")
    parser.add_argument("--loop", choices=["auto", "asyncio", "uvloop"], default="auto")
    parser.add_argument("--explain", action="store_true", help="add each case's SQL and plan")
    parser.add_argument("--seed", type=int, default=20241128)
    args = parser.parse_args()
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if args.cards > args.items:
        parser.error("--cards cannot exceed --items")

    import sqlite3

    import psycopg
    from sqlalchemy import __version__ as sqlalchemy_version

    import learningtool
    from learningtool.logs import configure_logging

    configure_logging("WARNING", json=True)
    began = time.perf_counter()
    load_before = common.loadavg()
    pg_version = None
    if "postgresql" in args.backends:
        with contextlib.suppress(Exception), psycopg.connect(args.pg_admin_url) as admin:
            pg_version = admin.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    log(f"generating {args.items} feed items")
    data = build_dataset(args.items, args.cards, args.sources, args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="lt-bench-feed-"))
    try:
        with asyncio.Runner(loop_factory=common.loop_factory(args.loop)) as runner:
            event_loop = type(runner.get_loop())
            outcome = runner.run(run_all(args, tmp, data))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load_after = common.loadavg()

    report = {
        **common.identity("feed"),
        "learningtool_imported_from": str(Path(learningtool.__file__).parent),
        "machine": common.machine(load_before, load_after, with_usable=True),
        "versions": {
            "sqlite": sqlite3.sqlite_version,
            "postgresql_server": pg_version,
            "sqlalchemy": sqlalchemy_version,
        },
        "setup": {
            "transport": "uvicorn.Server.serve() in this process on 127.0.0.1 (free port, "
            "listener with IPPROTO_TCP), httpx.AsyncClient on the same event loop over TCP, "
            "one request at a time",
            "event_loop": f"{event_loop.__module__}.{event_loop.__name__}",
            "page_limit": PAGE_LIMIT,
            "requests_per_case": args.requests,
            "warmup_per_case": args.warmup,
            "case_budget_s": args.case_budget_s,
            "reviews": args.reviews,
            "worker_in_feed_phase": False,
            "timing": "HTTP: request sent to body received (JSON decoding not timed); "
            "service: fresh session + service call (+ commit for reviews)",
        },
        "dataset": data.describe,
        **outcome,
        "targets": targets(outcome["backends"], outcome["study"]),
        "bench_seconds": r(time.perf_counter() - began, 1),
    }
    common.emit(report, default=str)


if __name__ == "__main__":
    main()
