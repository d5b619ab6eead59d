"""Load bench: 50 concurrent clients on feed, search, chat and job status, first with nothing
else to do, then while 20 documents are ingested; on SQLite and on PostgreSQL.

Run from the repository root: `python bench/load.py [--backend sqlite|postgresql|both]
[--quick] [...]`. Prints one JSON document on stdout (progress goes to stderr). Nothing is
asserted: every target is reported with `met` true or false.

For each backend, on a fresh database (SQLite: a file in a temp dir; PostgreSQL: a
`lt_bench_load_<random>` database on the local server, created with psycopg and dropped at
the end):

1. Server: `create_app(Settings(<temp data dir>, the database, worker in the process,
   offline engines, embedding_provider="local": the packaged MiniLM))` under uvicorn on
   127.0.0.1 in a spawned child process (`bench.served.AppProcess`); the bench process plays
   every client (httpx, one connection per client). The chat limit (20 a minute per user)
   is off: all clients are the same local user.
2. Reading notebook: a few licences (`bench/quality/corpora/licences`) uploaded and
   processed (ingestion, study material, topics) before anything is measured; every client
   reads it and chats with it. Each client has its own chat session.
3. Clients: `--clients` (50) closed loops. Each sends one request, reads the whole answer,
   waits a think time drawn uniformly from `--think-min`..`--think-max` (2-8 s: a person
   reading), and goes on through the kinds in `CYCLE` (feed 8, job 6, search 5, chat 1 in
   20: about 10 requests and 0.5 chats a second in all, half of what the single embedding
   process can answer offline with nothing else to do), starting at its own
   offset so that the kinds are spread over the clients: `GET .../feed?limit=30`,
   `GET .../search?q=` (hybrid, k=10), `GET /jobs/{id}` (the reading notebook's ingest
   jobs), `POST .../chat/sessions/{id}/messages {"content"}` (JSON: answered when the
   offline answer is stored).
4. Phases: `idle` (nothing else running), then `ingesting`: 20 documents
   uploaded one after the other into a second notebook (titled for this run, so that no
   embedding is reused), from the first upload until no job of that notebook is queued or
   running (ingestion, and the study material and topic suggestions each source queues).
   Default documents: 3 licences, grep(1), gitfaq.html and 15 two-page PDFs cut from
   R-intro.pdf (pages 8-37) with pypdf, 45 idle seconds; `--quick`: 20 one-page PDFs
   of R-intro.pdf (pages 8-27), 15 idle seconds, about a minute per backend on an idle
   machine (the ingesting phase stretches when other processes take the cores).
5. Per phase and kind: count, p50, p99, max (ms) and errors (any non-2xx or transport
   error, timed too); the ingesting / idle ratio of p50 and p99 per kind and for the reads
   together (feed, search, job); the app's event-loop lag (its own monitor) and CPU. A
   500's cause is in the server's log, on this process's stderr.

Targets (per backend): read p99 while ingesting <= 1.5 x idle p99 (each read kind, and the
reads together); no error at all (requests of both phases and the uploads).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import shutil
import sys
import tempfile
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # `bench.*`

# Light imports only at module level: the spawned server child imports this script again.
from bench import common, served  # noqa: E402
from bench.common import API, PG_ADMIN_URL_DEFAULT, log, r  # noqa: E402
from bench.served import AppProcess, CpuUse, JobTable, Outcome  # noqa: E402

TARGETS = {"read_p99_ingesting_vs_idle_max": 1.5, "errors_max": 0}
# feed 8, job 6, search 5, chat 1 in 20: an offline answer costs 0.7-1.3 s of the embedding
# process (one process, answers queue behind each other), so at 50 clients a larger chat
# share would saturate an idle server by itself.
CYCLE = (
    *("feed", "job", "search", "feed", "job"),
    *("feed", "search", "job", "feed", "job"),
    *("search", "feed", "job", "feed", "search"),
    *("job", "feed", "search", "feed", "chat"),
)
READS = ("feed", "search", "job")
SEARCHES = (
    "patent licence granted to recipients",
    "warranty disclaimer",
    "distribution of modified versions",
    "termination of rights",
)
QUESTIONS = (
    "What happens to the licence if I break its terms?",
    "Can I charge money for distributing copies?",
    "Do I have to share the source code of my changes?",
    "Is there any warranty for the program?",
)
INGEST_LIMIT_SECONDS = 900.0


@dataclass(frozen=True)
class Plan:
    """What one run does per backend: the default run, or `--quick`."""

    seed: tuple[str, ...]  # corpus files of the reading notebook
    texts: tuple[str, ...]  # corpus files among the 20 ingested documents
    r_intro_parts: int  # the rest: consecutive page ranges of R-intro.pdf
    r_intro_first_page: int
    pages_per_part: int
    idle_seconds: float


FULL = Plan(
    seed=("licences/GPL-3.txt", "licences/Apache-2.0.txt", "licences/MPL-2.0.txt"),
    texts=(
        "licences/GPL-2.txt",
        "licences/LGPL-2.1.txt",
        "licences/LGPL-3.txt",
        "man-pages/grep.1.txt",
        "git-manual/gitfaq.html",
    ),
    r_intro_parts=15,
    r_intro_first_page=8,
    pages_per_part=2,
    idle_seconds=45.0,
)
QUICK = Plan(
    seed=("licences/MPL-2.0.txt",),
    texts=(),
    r_intro_parts=20,
    r_intro_first_page=8,
    pages_per_part=1,
    idle_seconds=15.0,
)


def documents(plan: Plan) -> list[served.Document]:
    """The 20 documents of the ingesting phase."""
    r_intro = served.corpus_document("r-intro/R-intro.pdf")
    size = plan.pages_per_part
    parts = [
        served.page_range(r_intro, plan.r_intro_first_page + n * size, size)
        for n in range(plan.r_intro_parts)
    ]
    return [*(served.corpus_document(relative) for relative in plan.texts), *parts]


# -- clients ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What the clients use: the reading notebook, its ingest jobs, a chat session each."""

    notebook: str
    job_ids: tuple[str, ...]
    chats: tuple[str, ...]  # messages URL per client


async def send(http: Any, target: Target, number: int, turn: int) -> Outcome:
    """The client's `turn`-th request: its kind comes from `CYCLE`."""
    kind = CYCLE[turn % len(CYCLE)]
    notebook = f"{API}/notebooks/{target.notebook}"
    if kind == "feed":
        return await served.timed(http, kind, "GET", f"{notebook}/feed?limit=30")
    if kind == "search":
        query = quote(SEARCHES[turn % len(SEARCHES)])
        return await served.timed(http, kind, "GET", f"{notebook}/search?q={query}")
    if kind == "job":
        job = target.job_ids[turn % len(target.job_ids)]
        return await served.timed(http, kind, "GET", f"{API}/jobs/{job}")
    question = QUESTIONS[turn % len(QUESTIONS)]
    return await served.timed(http, kind, "POST", target.chats[number], json={"content": question})


async def client_loop(
    http: Any,
    target: Target,
    number: int,
    think: tuple[float, float],
    stop: asyncio.Event,
    outcomes: list[Outcome],
) -> None:
    """One client until `stop`: request, answer, think, next kind."""
    rng = random.Random(number)
    turn = number  # each client starts at its own place in the cycle
    await pause(stop, rng.uniform(0, think[1]))  # not all at once
    while not stop.is_set():
        outcomes.append(await send(http, target, number, turn))
        turn += 1
        await pause(stop, rng.uniform(*think))


async def pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


@dataclass
class Phase:
    """The requests sent during a phase (by the time they were sent), its span
    (time.monotonic()), CPU over it, and whatever else the phase reports."""

    name: str
    outcomes: list[Outcome] = field(default_factory=list)
    start: float = 0.0
    end: float = 0.0
    cpu: CpuUse = field(default_factory=CpuUse)
    extra: dict[str, Any] = field(default_factory=dict)


async def with_clients(
    app: AppProcess, target: Target, args: argparse.Namespace, phase: Phase, work: Any
) -> None:
    """Run the clients while `work` (a coroutine) runs; the phase spans the work."""
    stop = asyncio.Event()
    think = (args.think_min, args.think_max)
    async with app.client(connections=args.clients + 8) as http:
        loops = [
            asyncio.create_task(client_loop(http, target, n, think, stop, phase.outcomes))
            for n in range(args.clients)
        ]
        before = served.cpu_mark(app.pid)
        phase.start = time.monotonic()
        try:
            await work
        finally:
            phase.end = time.monotonic()
            phase.cpu.add(before, served.cpu_mark(app.pid))
            stop.set()
            await asyncio.gather(*loops)  # requests in flight were sent in the phase: kept


# -- setup and ingestion ----------------------------------------------------------------------


async def prepare(app: AppProcess, jobs: JobTable, plan: Plan, clients: int) -> Target:
    """The reading notebook, every job of its sources finished, and a chat session per
    client."""
    started = time.monotonic()
    async with app.client() as http:
        notebook, job_ids = await served.seed_notebook(http, jobs, plan.seed, INGEST_LIMIT_SECONDS)
        chats = []
        for number in range(clients):
            made = await http.post(
                f"{API}/notebooks/{notebook}/chat/sessions", json={"title": f"client {number}"}
            )
            made.raise_for_status()
            chats.append(f"{API}/notebooks/{notebook}/chat/sessions/{made.json()['id']}/messages")
    log(f"reading notebook ready in {time.monotonic() - started:.1f} s")
    return Target(notebook, tuple(job_ids), tuple(chats))


async def ingest(app: AppProcess, jobs: JobTable, plan: Plan, phase: Phase) -> None:
    """Upload the 20 documents one after the other, then wait until every job they caused
    has ended."""
    began = time.monotonic()
    async with app.client() as http:
        notebook = await served.new_notebook(http, "Ingested notebook")
        uploads = []
        for document in documents(plan):
            title = f"{document.name} (load bench)"
            uploads.append(await served.upload(http, notebook, document, title))
    uploaded = time.monotonic() - began
    log(f"ingesting: {len(uploads)} uploads answered {sorted({u.status for u in uploads})}")
    await jobs.wait_idle(notebook, INGEST_LIMIT_SECONDS, kind="source.ingest")
    ingested = time.monotonic() - began
    log(f"ingesting: ingest jobs ended after {ingested:.1f} s")
    await jobs.wait_idle(notebook, INGEST_LIMIT_SECONDS)
    log(f"ingesting: every job ended after {time.monotonic() - began:.1f} s")
    counts = await jobs.counts(notebook)
    phase.extra = {
        "documents": len(uploads),
        "uploads_s": r(uploaded, 1),
        "upload_ms": served.latency_summary(uploads),
        "upload_errors": served.error_samples(uploads),
        "ingest_jobs_ended_s": r(ingested, 1),
        "jobs": counts,
        "failed_jobs": served.failed_jobs(counts),
    }


# -- one backend ------------------------------------------------------------------------------


async def run_backend(
    backend: str, database_url: str | None, data_dir: Path, plan: Plan, args: argparse.Namespace
) -> dict[str, Any]:
    settings = served.app_settings(data_dir, database_url, args.embedding)
    app = AppProcess(settings, args.loop)
    jobs = JobTable(database_url or f"sqlite+aiosqlite:///{data_dir / 'learningtool.db'}")
    idle, busy = Phase("idle"), Phase("ingesting")
    try:
        await app.start()
        target = await prepare(app, jobs, plan, args.clients)
        log(f"{backend}: idle, {args.clients} clients, {plan.idle_seconds:g} s")
        await with_clients(app, target, args, idle, asyncio.sleep(plan.idle_seconds))
        log(f"{backend}: ingesting 20 documents under the same clients")
        await with_clients(app, target, args, busy, ingest(app, jobs, plan, busy))
        await app.stop()
    finally:
        app.kill()
    return backend_figures(app, idle, busy)


def phase_figures(app: AppProcess, phase: Phase) -> dict[str, Any]:
    seconds = phase.end - phase.start
    reads = [o for o in phase.outcomes if o.kind in READS]
    return {
        "seconds": r(seconds, 1),
        "requests": len(phase.outcomes),
        "requests_per_s": r(len(phase.outcomes) / seconds, 1) if seconds else None,
        "latency_ms": {"reads": served.latency_summary(reads), **served.by_kind(phase.outcomes)},
        "errors": sum(1 for o in phase.outcomes if o.failed),
        "error_samples": served.error_samples(phase.outcomes),
        "loop_lag_ms": common.lag_summary(app.lag_within(phase.start, phase.end)),
        "cpu_cores_busy": phase.cpu.cores(),
        **phase.extra,
    }


def ratios(idle: dict[str, Any], busy: dict[str, Any], figure: str) -> dict[str, float | None]:
    """ingesting / idle of `figure` (p50 or p99) for each kind and the reads together."""
    out: dict[str, float | None] = {}
    for kind, values in busy["latency_ms"].items():
        before = idle["latency_ms"].get(kind, {}).get(figure)
        after = values.get(figure)
        out[kind] = r(after / before, 2) if after is not None and before else None
    return out


def backend_figures(app: AppProcess, idle: Phase, busy: Phase) -> dict[str, Any]:
    first, second = phase_figures(app, idle), phase_figures(app, busy)
    p99 = ratios(first, second, "p99")
    errors = first["errors"] + second["errors"] + second.get("upload_ms", {}).get("errors", 0)
    limit = TARGETS["read_p99_ingesting_vs_idle_max"]
    read_ratios = {kind: p99.get(kind) for kind in ("reads", *READS)}
    return {
        "event_loop": app.event_loop,
        "idle": first,
        "ingesting": second,
        "ratio_p50_ingesting_vs_idle": ratios(first, second, "p50"),
        "ratio_p99_ingesting_vs_idle": p99,
        "targets": {
            "read_p99_ingesting_vs_idle": {
                "values": read_ratios,
                "max": limit,
                "met": all(v is not None and v <= limit for v in read_ratios.values()),
            },
            "errors": {"value": errors, "max": TARGETS["errors_max"], "met": errors == 0},
        },
    }


def run_one(backend: str, plan: Plan, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """A fresh database for the backend, the app on it, both phases."""
    with common.Database(
        backend,
        tmp,
        args.pg_admin_url,
        pg_prefix="lt_bench_load_",
        sqlite_file=f"load-{uuid.uuid4().hex[:10]}.db",
    ) as database:
        data_dir = tmp / f"data-{backend}"
        with asyncio.Runner(loop_factory=common.loop_factory(args.loop)) as runner:
            return runner.run(run_backend(backend, database.url, data_dir, plan, args))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="a 1-2 minute run")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--think-min", type=float, default=2.0, help="seconds")
    parser.add_argument("--think-max", type=float, default=8.0, help="seconds")
    parser.add_argument(
        "--embedding", choices=["local", "hashing"], default="local", help="embedding provider"
    )
    parser.add_argument("--loop", choices=["auto", "asyncio", "uvloop"], default="auto")
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL_DEFAULT)
    args = parser.parse_args()
    if args.clients < 1 or args.think_min < 0 or args.think_max < args.think_min:
        parser.error("--clients must be >= 1 and 0 <= --think-min <= --think-max")
    return args


def main() -> None:
    args = parse_args()
    plan = QUICK if args.quick else FULL
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    began = time.perf_counter()
    load_before = common.loadavg()
    results: dict[str, Any] = {}
    errors: dict[str, str] = {}
    tmp = Path(tempfile.mkdtemp(prefix="lt-bench-load-"))
    try:
        for backend in backends:
            log(f"{backend}: starting")
            try:
                results[backend] = run_one(backend, plan, args, tmp)
            except Exception as error:
                errors[backend] = f"{type(error).__name__}: {error}"
                log(traceback.format_exc())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    document = {
        **common.identity("load"),
        "machine": common.machine(load_before, common.loadavg(), with_usable=True),
        "setup": {
            "server": "spawned child process: uvicorn + create_app, worker in the process, "
            "offline engines; clients (httpx) in the bench process",
            "embedding_provider": args.embedding,
            "clients": args.clients,
            "think_seconds": [args.think_min, args.think_max],
            "cycle": list(CYCLE),
            "plan": "quick" if args.quick else "full",
            "idle_seconds": plan.idle_seconds,
            "documents": [d.name for d in documents(plan)],
            "rate_chat_per_minute": "0 (off)",
        },
        "results": results,
        "errors": errors,
        "bench_seconds": r(time.perf_counter() - began, 1),
    }
    common.emit(document)


if __name__ == "__main__":
    main()
