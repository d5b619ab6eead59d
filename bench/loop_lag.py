"""Loop-lag bench: the server's event-loop lag while the whole pipeline runs on real public
documents, under read load at half the saturating rate and at saturation, next to the same
load against a deliberately blocking variant of the feed route.

Run from the repository root: `python bench/loop_lag.py [--quick] [...]`. Prints one JSON
document on stdout (progress goes to stderr). Nothing is asserted: every target is reported
with `met` true or false.

1. Server: `create_app(Settings(<temp data dir>, SQLite, worker in the process, offline
   engines, embedding_provider="local": the packaged MiniLM))` under uvicorn on 127.0.0.1
   in a spawned child process (`bench.served.AppProcess`), on the loop uvicorn picks
   (`--loop auto`: uvloop). The bench process plays every client (httpx). The child adds
   one route for the comparison (`add_blocking_feed`): the feed's first page read through a
   synchronous SQLAlchemy session inside `async def`, the pattern the project migrated
   away from; it exists only in the bench's server.
2. Reading notebook: the licences corpus (`bench/quality/corpora/licences`) uploaded and
   processed (ingestion, study material, topics) before anything is measured. Every read
   goes to it, in the repeating order feed, search, feed, job: `GET .../feed?limit=30`
   (the first page), `GET .../search?q=` (hybrid, k=10, queries rotating over `SEARCHES`),
   `GET /jobs/{id}` (its ingest jobs, rotating). So reads cost the same in every phase and a
   difference comes from what else the server does.
3. Saturating rate: reads offered open loop (evenly spaced sends; at most `--in-flight`
   outstanding, a send beyond that waits and is counted as delayed) in steps of
   `step_seconds`, each rate 1.4 times the last; a step's throughput is its successful
   reads per second (first send to last answer). The ramp ends when two steps in a row do
   not raise the best throughput by 5%; the saturating rate S is the best throughput seen.
4. Loads: `half` (S/2), `half_blocking` (S/2, feed reads to the blocking route, the other
   reads as in `half`) and `saturation` (S). They take turns, round robin, in windows of
   `window_seconds` of wall time (a send the in-flight cap holds past the window's end is
   not made, and counted as unsent); between windows the load stops sending and its reads
   in flight finish (a drain that belongs to no window), so that one load's backlog is not
   counted in the next.
   - idle: no background work, until each load has had `idle_seconds`;
   - pipeline: a new notebook gets the whole R-intro.pdf, a scanned PDF (GPL-3 paragraphs
     drawn as page images with `tests/ingestion/builders`, no text layer: OCR), speech.wav
     (speech to text), gitfaq.html, grep(1) and ssh(1) as uploads, titled for this run so
     that no embedding is reused from the reading notebook. Each ingest job, as it
     succeeds, queues the source's study material and topic suggestions; when every ingest
     job has ended, one research run starts (offline engine, notebook only). The pipeline
     ends when no job of the notebook is queued or running; the loads take turns until
     then, so that each sees the same mix of background work.
5. Per load and condition: the app's own `LoopLagMonitor` samples (its interval: 50 ms, the
   default) that woke inside the load's windows (samples, p50, p99, max); read latency,
   all reads and per kind (count, p50, p99, max, errors: any non-2xx or transport error);
   offered and achieved rate; sends delayed or not made because of the in-flight cap; the
   drains' length; CPU of the app's process, of its child processes (pools, graph worker)
   and of the bench (clients) as cores busy. Also: the pipeline's own figures (uploads,
   job states, what it left: sources and their errors, feed items, topics, the research
   run) and its 5 largest lag samples with the jobs under way at the time.

The blocking route reads through its own synchronous engine, so its feed reads do not wait
for the app's async connection pool: when that pool runs dry its read latency can be the
lower one, and the loop lag is the figure that tells the two apart.

Targets: lag p99 <= 20 ms under `half` during the pipeline; under `saturation`, the pipeline
no worse than idle (ratio <= 1) on lag p99 (read p99 ratio reported beside it). Ratios
blocking / ours (lag p99, read p99) at S/2, idle and during the pipeline.

`--quick` (1-2 minutes): two licences in the reading notebook, the pipeline on the first 12
pages of R-intro.pdf, one scanned page, speech.wav and grep(1), research at effort low,
shorter steps and windows.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # `bench.*`

# Light imports only at module level: the spawned server child imports this script again.
from bench import common, served  # noqa: E402
from bench.common import API, log, r  # noqa: E402
from bench.served import AppProcess, CpuUse, JobTable, Outcome  # noqa: E402

TARGETS = {"lag_p99_ms_half_rate_pipeline_max": 20.0, "saturation_pipeline_vs_idle_max": 1.0}
MIX = ("feed", "search", "feed", "job")
SEARCHES = (
    "patent licence granted to recipients",
    "warranty disclaimer",
    "distribution of modified versions",
    "source code must be made available",
    "termination of rights",
    "linking with a library",
)
RESEARCH_QUESTION = "How are linear models fitted and summarised in R?"
RAMP_FACTOR = 1.4
RAMP_GAIN = 1.05  # a step must beat the best throughput by 5% to count as growth
RAMP_FLAT_STEPS = 2
RAMP_MAX_STEPS = 14
PIPELINE_LIMIT_SECONDS = 1200.0


@dataclass(frozen=True)
class Plan:
    """What one run does: the default run, or `--quick`."""

    seed: tuple[str, ...]  # corpus files of the reading notebook
    documents: tuple[str, ...]  # corpus files the pipeline uploads besides R-intro, scan, speech
    r_intro_pages: int | None  # None: the whole R-intro.pdf
    scanned_pages: int
    ramp_start: float
    step_seconds: float
    idle_seconds: float
    window_seconds: float
    research_effort: str


LICENCES = ("Apache-2.0", "GPL-2", "GPL-3", "LGPL-2.1", "LGPL-3", "MPL-2.0")
FULL = Plan(
    seed=tuple(f"licences/{name}.txt" for name in LICENCES),
    documents=("git-manual/gitfaq.html", "man-pages/grep.1.txt", "man-pages/ssh.1.txt"),
    r_intro_pages=None,
    scanned_pages=2,
    ramp_start=10.0,
    step_seconds=4.0,
    idle_seconds=12.0,
    window_seconds=10.0,
    research_effort="medium",
)
QUICK = Plan(
    seed=("licences/GPL-3.txt", "licences/MPL-2.0.txt"),
    documents=("man-pages/grep.1.txt",),
    r_intro_pages=12,
    scanned_pages=1,
    ramp_start=10.0,
    step_seconds=2.0,
    idle_seconds=4.0,
    window_seconds=4.0,
    research_effort="low",
)


# -- the blocking variant (added inside the server child only) ---------------------------------


def add_blocking_feed(app: Any, settings: Any) -> None:
    """`GET /bench/blocking/notebooks/{id}/feed?limit=`: the same first page as the feed
    route (same token check, notebook check, query, order and response model), read
    through a synchronous SQLAlchemy session inside `async def`. Every statement then runs
    on the event loop's thread, and the loop serves nothing else until it returns: the
    pattern the project migrated away from, kept here only to show the difference."""
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session
    from starlette.requests import Request

    from learningtool.db import sync_url
    from learningtool.errors import NotFound, Unauthorized
    from learningtool.feed.schemas import FeedItemRead, FeedPage
    from learningtool.feed.service import NEWEST_FIRST, encode_cursor
    from learningtool.models import ApiToken, FeedItem, Notebook
    from learningtool.user.service import hash_token

    engine = create_engine(sync_url(settings.sqlalchemy_url))

    async def blocking_feed(notebook_id: str, request: Request, limit: int = 30) -> FeedPage:
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        with Session(engine) as session:  # synchronous: blocks the event loop
            user_id = session.scalar(
                select(ApiToken.user_id).where(ApiToken.token_hash == hash_token(token))
            )
            if user_id is None:
                raise Unauthorized("the token is not valid")
            owned = session.scalar(
                select(Notebook.id).where(Notebook.id == notebook_id, Notebook.owner_id == user_id)
            )
            if owned is None:
                raise NotFound("notebook not found")
            query = (
                select(FeedItem)
                .where(FeedItem.notebook_id == notebook_id)
                .order_by(*NEWEST_FIRST)
                .limit(limit + 1)
            )
            rows = list(session.scalars(query))
        items = rows[:limit]
        more = len(rows) > limit and items
        return FeedPage(
            items=[FeedItemRead.model_validate(item) for item in items],
            next_cursor=encode_cursor(items[-1]) if more else None,
        )

    # The annotations as objects: with `from __future__ import annotations` they are strings,
    # which FastAPI resolves in this module's globals, where the imports above are not.
    blocking_feed.__annotations__ = {
        "notebook_id": str,
        "request": Request,
        "limit": int,
        "return": FeedPage,
    }
    app.add_api_route(
        "/bench/blocking/notebooks/{notebook_id}/feed", blocking_feed, methods=["GET"]
    )


# -- reads ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reads:
    """The read requests, all against the reading notebook, in the repeating order `MIX`."""

    notebook: str
    job_ids: tuple[str, ...]

    def request(self, index: int, blocking: bool) -> tuple[str, str]:
        kind = MIX[index % len(MIX)]
        turn = index // len(MIX)
        if kind == "feed" and blocking:
            return "feed", f"/bench/blocking/notebooks/{self.notebook}/feed?limit=30"
        if kind == "feed":
            return "feed", f"{API}/notebooks/{self.notebook}/feed?limit=30"
        if kind == "search":
            query = quote(SEARCHES[turn % len(SEARCHES)])
            return "search", f"{API}/notebooks/{self.notebook}/search?q={query}"
        return "job", f"{API}/jobs/{self.job_ids[turn % len(self.job_ids)]}"


@dataclass
class Sent:
    """What one stretch of open-loop sending gave: its outcomes, its span (time.monotonic()),
    how many sends had to wait for the in-flight cap, how many were never sent because the
    cap stayed full until the stretch ended, and how long its last reads took to finish
    after it (the drain, which belongs to no window)."""

    outcomes: list[Outcome]
    start: float
    end: float
    delayed: int
    unsent: int
    drain: float


async def offer(
    client: Any,
    reads: Reads,
    rate: float,
    seconds: float,
    *,
    blocking: bool,
    cap: int,
    stop: asyncio.Event | None = None,
) -> Sent:
    """Send reads at `rate` per second, evenly spaced, for `seconds` of wall time (or until
    `stop`), at most `cap` in flight; then wait for the last answers. Open loop: a slow
    server does not slow the sending down until the cap is reached; a send due while the
    cap is full waits for a free slot, and the stretch still ends on time."""
    outcomes: list[Outcome] = []
    slots = asyncio.Semaphore(cap)
    running: set[asyncio.Task[None]] = set()

    async def one(kind: str, url: str) -> None:
        try:
            outcomes.append(await served.timed(client, kind, "GET", url))
        finally:
            slots.release()

    start = time.monotonic()
    finish = start + seconds
    index = delayed = 0
    while start + index / rate < finish and not (stop and stop.is_set()):
        pause = start + index / rate - time.monotonic()
        if pause > 0:
            await asyncio.sleep(pause)
        if slots.locked():
            delayed += 1
            try:
                await asyncio.wait_for(slots.acquire(), max(0.0, finish - time.monotonic()))
            except TimeoutError:
                break
        else:
            await slots.acquire()
        task = asyncio.create_task(one(*reads.request(index, blocking)))
        running.add(task)
        task.add_done_callback(running.discard)
        index += 1
    end = time.monotonic()
    await asyncio.gather(*running)
    unsent = max(0, int((end - start) * rate) - index)
    return Sent(outcomes, start, end, delayed, unsent, time.monotonic() - end)


def throughput(sent: Sent) -> float:
    """Successful reads per second, from the first send to the last answer."""
    ok = [o for o in sent.outcomes if not o.failed]
    if not ok:
        return 0.0
    return len(ok) / max(max(o.sent + o.seconds for o in ok) - sent.start, 1e-9)


# -- the saturating rate ----------------------------------------------------------------------


async def find_saturation(
    app: AppProcess, client: Any, reads: Reads, plan: Plan, cap: int
) -> dict[str, Any]:
    """Raise the offered rate by `RAMP_FACTOR` a step until throughput stops growing."""
    rate, best, flat = plan.ramp_start, 0.0, 0
    steps: list[dict[str, Any]] = []
    while len(steps) < RAMP_MAX_STEPS and flat < RAMP_FLAT_STEPS:
        before = served.cpu_mark(app.pid)
        sent = await offer(client, reads, rate, plan.step_seconds, blocking=False, cap=cap)
        cpu = CpuUse()
        cpu.add(before, served.cpu_mark(app.pid))
        achieved = throughput(sent)
        steps.append(
            {
                "offered_per_s": r(rate, 1),
                "achieved_per_s": r(achieved, 1),
                "reads_ms": served.latency_summary(sent.outcomes),
                "sends_delayed_by_in_flight_cap": sent.delayed,
                "unsent_in_flight_cap_full": sent.unsent,
                "cpu_cores_busy": cpu.cores(),
            }
        )
        log(f"ramp: offered {rate:.0f}/s, achieved {achieved:.1f}/s")
        if achieved > best * RAMP_GAIN:
            best, flat = achieved, 0
        else:
            best, flat = max(best, achieved), flat + 1
        rate *= RAMP_FACTOR
    return {"saturating_rate_per_s": r(best, 1), "steps": steps}


# -- loads taking turns -----------------------------------------------------------------------


@dataclass
class Load:
    """One read load of a condition: its rate, where its feed reads go, and what it got."""

    name: str
    rate: float
    blocking: bool
    outcomes: list[Outcome] = field(default_factory=list)
    windows: list[tuple[float, float]] = field(default_factory=list)
    delayed: int = 0
    unsent: int = 0
    drain: float = 0.0
    cpu: CpuUse = field(default_factory=CpuUse)

    @property
    def seconds(self) -> float:
        return sum(end - start for start, end in self.windows)


def loads_for(saturating: float) -> list[Load]:
    half = saturating / 2
    return [
        Load("half", half, blocking=False),
        Load("half_blocking", half, blocking=True),
        Load("saturation", saturating, blocking=False),
    ]


async def take_turns(
    app: AppProcess,
    client: Any,
    reads: Reads,
    loads: list[Load],
    *,
    window: float,
    cap: int,
    done: Callable[[], bool],
    stop: asyncio.Event | None = None,
) -> None:
    """Run the loads round robin, a window each, until `done()`; `stop` cuts a window short."""
    while not done():
        for load in loads:
            if done():
                return
            before = served.cpu_mark(app.pid)
            sent = await offer(
                client, reads, load.rate, window, blocking=load.blocking, cap=cap, stop=stop
            )
            load.cpu.add(before, served.cpu_mark(app.pid))
            load.outcomes += sent.outcomes
            load.windows.append((sent.start, sent.end))
            load.delayed += sent.delayed
            load.unsent += sent.unsent
            load.drain += sent.drain


def load_figures(app: AppProcess, load: Load) -> dict[str, Any]:
    lags = [lag for start, end in load.windows for lag in app.lag_within(start, end)]
    ok = sum(1 for o in load.outcomes if not o.failed)
    return {
        "offered_per_s": r(load.rate, 1),
        "achieved_per_s": r(ok / load.seconds, 1) if load.seconds else None,
        "feed_route": "blocking variant" if load.blocking else "the app's",
        "windows": len(load.windows),
        "seconds": r(load.seconds, 1),
        "loop_lag_ms": common.lag_summary(lags),
        "reads_ms": served.by_kind(load.outcomes),
        "sends_delayed_by_in_flight_cap": load.delayed,
        "unsent_in_flight_cap_full": load.unsent,
        "drain_after_windows_s": r(load.drain, 1),
        "cpu_cores_busy": load.cpu.cores(),
    }


# -- setup and the pipeline -------------------------------------------------------------------


async def seed(client: Any, jobs: JobTable, plan: Plan) -> Reads:
    """The reading notebook, with every job of its sources finished."""
    started = time.monotonic()
    notebook, job_ids = await served.seed_notebook(client, jobs, plan.seed, PIPELINE_LIMIT_SECONDS)
    log(f"reading notebook ready in {time.monotonic() - started:.1f} s")
    return Reads(notebook, tuple(job_ids))


def pipeline_documents(plan: Plan) -> list[served.Document]:
    r_intro = served.corpus_document("r-intro/R-intro.pdf")
    if plan.r_intro_pages:
        r_intro = served.page_range(r_intro, 1, plan.r_intro_pages)
    return [
        r_intro,
        served.scanned_pdf(plan.scanned_pages, seed=1),
        served.speech_document(),
        *(served.corpus_document(relative) for relative in plan.documents),
    ]


async def pipeline(client: Any, jobs: JobTable, plan: Plan) -> dict[str, Any]:
    """Uploads, their jobs (ingestion, then study material and topics), one research run
    once ingestion has ended; returns when no job of the notebook is left."""
    began = time.monotonic()
    notebook = await served.new_notebook(client, "Pipeline notebook")
    documents = pipeline_documents(plan)
    uploads = [
        await served.upload(client, notebook, document, f"{document.name} (pipeline)")
        for document in documents
    ]
    log(f"pipeline: {len(documents)} uploads answered {[u.status for u in uploads]}")
    ingested = await jobs.wait_idle(notebook, PIPELINE_LIMIT_SECONDS, kind="source.ingest")
    log(f"pipeline: ingestion ended after {ingested:.1f} s; research starts")
    research = await served.timed(
        client,
        "research",
        "POST",
        f"{API}/notebooks/{notebook}/research",
        keep=True,
        json={"question": RESEARCH_QUESTION, "effort": plan.research_effort, "use_web": False},
    )
    await jobs.wait_idle(notebook, PIPELINE_LIMIT_SECONDS)
    finished = time.monotonic() - began
    log(f"pipeline: every job ended after {finished:.1f} s")
    return {
        "notebook": notebook,
        "documents": [{"name": d.name, "bytes": len(d.data)} for d in documents],
        "uploads": [
            {"status": u.status, "ms": r(u.seconds * 1000, 1), "error": u.error} for u in uploads
        ],
        "research_start": {"status": research.status, "error": research.error},
        "research_run": research.body["run"]["id"] if research.body else None,
        "ingestion_s": r(ingested, 1),
        "total_s": r(finished, 1),
        "jobs": await jobs.counts(notebook),
    }


async def pipeline_results(client: Any, made: dict[str, Any]) -> dict[str, Any]:
    """What the pipeline left: sources and their states, feed items by kind, topics, and
    the research run's state."""
    notebook = made["notebook"]
    sources = (await client.get(f"{API}/notebooks/{notebook}/sources")).json()
    counts = (await client.get(f"{API}/notebooks/{notebook}/feed/counts")).json()
    topics = (await client.get(f"{API}/notebooks/{notebook}/topics")).json()
    run = None
    if made["research_run"]:
        url = f"{API}/notebooks/{notebook}/research/{made['research_run']}"
        body = (await client.get(url)).json()
        run = {"status": body["status"], "engine": body["engine"], "error": body["error"]}
    return {
        "sources": [
            {"title": s["title"], "status": s["status"], "error": s.get("error")} for s in sources
        ],
        "feed_items_by_kind": counts,
        "topics": len(topics),
        "research_run": run,
    }


# -- the run ----------------------------------------------------------------------------------


@dataclass
class Run:
    """Everything measured, kept until the server has stopped and sent its lag samples."""

    ramp: dict[str, Any] = field(default_factory=dict)
    idle: list[Load] = field(default_factory=list)
    busy: list[Load] = field(default_factory=list)
    pipeline: dict[str, Any] = field(default_factory=dict)
    pipeline_window: tuple[float, float] = (0.0, 0.0)
    job_spans: list[served.JobSpan] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def measure(args: argparse.Namespace, plan: Plan, data_dir: Path) -> tuple[Run, AppProcess]:
    settings = served.app_settings(data_dir, None, args.embedding)
    app = AppProcess(settings, args.loop, add_blocking_feed)
    run = Run()
    try:
        await app.start()
        jobs = JobTable(f"sqlite+aiosqlite:///{data_dir / 'learningtool.db'}")
        async with app.client(connections=args.in_flight + 8) as client:
            await drive(app, client, jobs, plan, args, run)
        await app.stop()
    finally:
        app.kill()
    return run, app


async def drive(
    app: AppProcess, client: Any, jobs: JobTable, plan: Plan, args: argparse.Namespace, run: Run
) -> None:
    """Seed, ramp, idle turns, then the pipeline with turns until it ends."""
    cap = args.in_flight
    reads = await seed(client, jobs, plan)
    log("warm-up reads, both feed routes (not reported)")
    for blocking in (False, True):
        await offer(client, reads, plan.ramp_start, plan.step_seconds, blocking=blocking, cap=cap)
    run.ramp = await find_saturation(app, client, reads, plan, cap)
    saturating = run.ramp["saturating_rate_per_s"]
    log(f"saturating rate {saturating}/s; idle turns")
    run.idle = loads_for(saturating)
    await take_turns(
        app,
        client,
        reads,
        run.idle,
        window=plan.window_seconds,
        cap=cap,
        done=lambda: all(load.seconds >= plan.idle_seconds for load in run.idle),
    )
    log("pipeline with turns")
    run.busy = loads_for(saturating)
    ended = asyncio.Event()
    started = time.monotonic()
    task = asyncio.create_task(pipeline(client, jobs, plan))
    task.add_done_callback(lambda _: ended.set())
    await take_turns(
        app,
        client,
        reads,
        run.busy,
        window=plan.window_seconds,
        cap=cap,
        done=ended.is_set,
        stop=ended,
    )
    run.pipeline_window = (started, time.monotonic())
    try:
        run.pipeline = await task
        run.pipeline["left"] = await pipeline_results(client, run.pipeline)
        run.job_spans = await jobs.spans(run.pipeline["notebook"])
    except Exception as error:
        run.errors.append(f"pipeline: {type(error).__name__}: {error}")
        log(traceback.format_exc())


# -- report -----------------------------------------------------------------------------------


def worst_stalls(app: AppProcess, run: Run, count: int = 5) -> list[dict[str, Any]]:
    """The largest lag samples while the pipeline ran: when (seconds from its start), in
    which load's window (or between windows, while a load drained), and which of its jobs
    were under way. A sample that wakes at `at` with lag `lag` stalled from about
    `at - lag` to `at`. Job times are the database's (wall clock), so the bench's offset
    between wall clock and time.monotonic() maps them."""
    start, end = run.pipeline_window
    offset = time.time() - time.monotonic()
    worst = sorted(((lag, at) for at, lag in app.lags if start <= at <= end), reverse=True)
    stalls = []
    for lag, at in worst[:count]:
        window = next(
            (load.name for load in run.busy for s, e in load.windows if s <= at <= e),
            "between windows (drain)",
        )
        under_way = [
            f"{span.kind} ({span.state}, attempt {span.attempts})"
            for span in run.job_spans
            if span.under_way(at - lag + offset, at + offset)
        ]
        stalls.append(
            {
                "lag_ms": r(lag * 1000, 1),
                "at_s": r(at - start, 1),
                "window": window,
                "jobs_under_way": under_way,
            }
        )
    return stalls


def ratio(numerator: Any, denominator: Any) -> float | None:
    if numerator is None or not denominator:
        return None
    return r(numerator / denominator, 2)


def comparisons(idle: dict[str, Any], busy: dict[str, Any]) -> dict[str, Any]:
    """Blocking / ours at S/2 (idle and pipeline) and pipeline / idle at saturation, on lag
    p99 and read p99 (all reads)."""

    def pair(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        return {
            "loop_lag_p99": ratio(a["loop_lag_ms"]["p99"], b["loop_lag_ms"]["p99"]),
            "loop_lag_max": ratio(a["loop_lag_ms"]["max"], b["loop_lag_ms"]["max"]),
            "read_p99": ratio(a["reads_ms"]["all"]["p99"], b["reads_ms"]["all"]["p99"]),
            "feed_read_p99": ratio(
                a["reads_ms"].get("feed", {}).get("p99"), b["reads_ms"].get("feed", {}).get("p99")
            ),
        }

    return {
        "blocking_vs_ours_half_rate_idle": pair(idle["half_blocking"], idle["half"]),
        "blocking_vs_ours_half_rate_pipeline": pair(busy["half_blocking"], busy["half"]),
        "saturation_pipeline_vs_idle": pair(busy["saturation"], idle["saturation"]),
        "half_rate_pipeline_vs_idle": pair(busy["half"], idle["half"]),
    }


def targets(busy: dict[str, Any], compared: dict[str, Any]) -> dict[str, Any]:
    half_p99 = busy["half"]["loop_lag_ms"]["p99"]
    limit = TARGETS["lag_p99_ms_half_rate_pipeline_max"]
    saturation = compared["saturation_pipeline_vs_idle"]
    most = TARGETS["saturation_pipeline_vs_idle_max"]
    return {
        "lag_p99_half_rate_pipeline": {
            "value_ms": half_p99,
            "max_ms": limit,
            "met": half_p99 is not None and half_p99 <= limit,
            "max_sample_ms": busy["half"]["loop_lag_ms"]["max"],
        },
        "saturation_pipeline_vs_idle_lag_p99": {
            "value": saturation["loop_lag_p99"],
            "max": most,
            "met": saturation["loop_lag_p99"] is not None and saturation["loop_lag_p99"] <= most,
            "read_p99_ratio": saturation["read_p99"],
            "read_p99_met": saturation["read_p99"] is not None and saturation["read_p99"] <= most,
        },
    }


def report(args: argparse.Namespace, plan: Plan, run: Run, app: AppProcess) -> dict[str, Any]:
    idle = {load.name: load_figures(app, load) for load in run.idle}
    busy = {load.name: load_figures(app, load) for load in run.busy}
    start, end = run.pipeline_window
    everything = [o for load in (*run.idle, *run.busy) for o in load.outcomes]
    document: dict[str, Any] = {
        "setup": {
            "server": "spawned child process: uvicorn + create_app, SQLite, worker in the "
            "process, offline engines; clients (httpx) in the bench process",
            "event_loop": app.event_loop,
            "embedding_provider": args.embedding,
            "app_lag_interval_ms": r(app.lag_interval * 1000, 1),
            "read_mix": list(MIX),
            "in_flight_cap": args.in_flight,
            "plan": "quick" if args.quick else "full",
            "window_seconds": plan.window_seconds,
            "idle_seconds_per_load": plan.idle_seconds,
            "research_effort": plan.research_effort,
        },
        "ramp": run.ramp,
        "idle": idle,
        "pipeline": busy,
        "pipeline_run": run.pipeline,
        "pipeline_all_lag_ms": common.lag_summary(app.lag_within(start, end)),
        "pipeline_worst_stalls": worst_stalls(app, run),
    }
    if idle and busy:
        document["ratios"] = comparisons(idle, busy)
        document["targets"] = targets(busy, document["ratios"])
    document["read_errors"] = served.error_samples(everything)
    document["errors"] = run.errors
    return document


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 1-2 minute run")
    parser.add_argument("--in-flight", type=int, default=64, help="cap on reads in flight")
    parser.add_argument(
        "--embedding", choices=["local", "hashing"], default="local", help="embedding provider"
    )
    parser.add_argument("--loop", choices=["auto", "asyncio", "uvloop"], default="auto")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    plan = QUICK if args.quick else FULL
    began = time.perf_counter()
    load_before = common.loadavg()
    tmp = Path(tempfile.mkdtemp(prefix="lt-bench-looplag-"))
    try:
        with asyncio.Runner(loop_factory=common.loop_factory(args.loop)) as runner:
            run, app = runner.run(measure(args, plan, tmp / "data"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    document = {
        **common.identity("loop_lag"),
        "machine": common.machine(load_before, common.loadavg(), with_usable=True),
        **report(args, plan, run, app),
        "bench_seconds": r(time.perf_counter() - began, 1),
    }
    common.emit(document)


if __name__ == "__main__":
    main()
