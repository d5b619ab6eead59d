"""What the load benches (`bench/loop_lag.py`, `bench/load.py`) share: the app served by
uvicorn in a spawned child process on a loopback port, timed HTTP requests and their
summary, the job table read from the bench side, and the documents the pipeline ingests.

The server is a separate process so that the clients' work (the bench process plays every
client) is not on the event loop being measured. The child keeps every sample of the app's
own `LoopLagMonitor` (`app.state.lag_monitor`, which itself keeps one minute) and sends
them, on `time.monotonic()`, when told to stop; the bench cuts them into its phases.

Light imports only at module level, as in `bench/common.py`: spawned children import the
running script, and with it this module, again.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import random
import sqlite3
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench import common
from bench.chat import CpuMark, LagCopy
from bench.common import API, log

START_SECONDS = 180.0
STOP_SECONDS = 60.0
CORPORA = Path(__file__).resolve().parent / "quality" / "corpora"
SPEECH = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "ingestion" / "speech.wav"

# A route the bench adds to the app in the child, or None: a top-level function (it is
# pickled by reference into the spawned child) called with the app and its settings.
Extend = Callable[[Any, Any], None] | None


# -- the app in a child process ---------------------------------------------------------------


def serve_child(
    settings_values: dict[str, Any], loop_name: str, extend: Extend, channel: Connection
) -> None:
    """Child process: serve the app until told to stop, then send its loop-lag samples."""
    try:
        with asyncio.Runner(loop_factory=common.loop_factory(loop_name)) as runner:
            runner.run(_serve(settings_values, extend, channel))
    except BaseException:
        channel.send(("error", traceback.format_exc()))


async def _serve(settings_values: dict[str, Any], extend: Extend, channel: Connection) -> None:
    import uvicorn

    from learningtool.config import Settings
    from learningtool.main import create_app

    settings = Settings(_env_file=None, **settings_values)  # type: ignore[call-arg]
    app = create_app(settings)
    if extend is not None:
        extend(app, settings)
    listener = common.loopback_listener()  # IPPROTO_TCP: accepted connections get TCP_NODELAY
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    await common.wait_started(server, serving, START_SECONDS)
    loop = asyncio.get_running_loop()
    lags = LagCopy(app.state.lag_monitor)
    copying = asyncio.create_task(lags.run())
    channel.send(("ready", listener.getsockname()[1], type(loop).__module__))
    await asyncio.to_thread(channel.recv)  # "stop"
    copying.cancel()
    lags.copy()
    offset = time.monotonic() - loop.time()  # uvloop's clock is not time.monotonic()
    server.should_exit = True
    await serving
    channel.send(("lag", [(at + offset, lag) for at, lag in lags.samples], lags.interval))


class AppProcess:
    """The app served in a spawned child; its loop-lag samples arrive when it stops."""

    def __init__(self, settings: dict[str, Any], loop_name: str, extend: Extend = None) -> None:
        context = multiprocessing.get_context("spawn")
        self.channel, child_end = context.Pipe()
        self.process = context.Process(
            target=serve_child, args=(settings, loop_name, extend, child_end), name="bench-app"
        )
        self.data_dir = Path(settings["data_dir"])
        self.port = 0
        self.event_loop = ""
        self.lags: list[tuple[float, float]] = []
        self.lag_interval = 0.0

    @property
    def pid(self) -> int:
        return self.process.pid or 0

    async def start(self) -> None:
        started = time.perf_counter()
        self.process.start()
        message = await self._receive(START_SECONDS)
        if message[0] != "ready":
            raise RuntimeError(f"the app did not start:\n{message[1]}")
        _, self.port, self.event_loop = message
        took = time.perf_counter() - started
        log(f"app pid {self.pid} on port {self.port}, started in {took:.1f} s")

    async def stop(self) -> None:
        if not self.process.is_alive():
            return
        self.channel.send("stop")
        message = await self._receive(STOP_SECONDS)
        if message[0] == "lag":
            _, self.lags, self.lag_interval = message
        else:
            log(f"the app process failed:\n{message[1]}")
        await asyncio.to_thread(self.process.join, STOP_SECONDS)

    def kill(self) -> None:
        """Kill the child if it is still there (after a failure): this process only, by its
        pid."""
        if self.process.is_alive():
            self.process.kill()
            self.process.join(10)

    async def _receive(self, seconds: float) -> tuple[Any, ...]:
        if not await asyncio.to_thread(self.channel.poll, seconds):
            raise TimeoutError("the app process did not answer")
        return tuple(self.channel.recv())

    def lag_within(self, start: float, end: float) -> list[float]:
        """Lags of the samples that woke within [start, end] (time.monotonic())."""
        return [lag for at, lag in self.lags if start <= at <= end]

    def client(self, connections: int = 200) -> Any:
        """An httpx client with the local user's token, for this app. It drops a connection
        idle for 4 s: uvicorn closes one idle for 5 s, and a request sent on a connection as
        the server closes it fails (ReadError) with no fault of the app's."""
        import httpx

        token = (self.data_dir / "local-token").read_text().strip()
        return httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.port}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(60.0),
            limits=httpx.Limits(
                max_connections=connections,
                max_keepalive_connections=connections,
                keepalive_expiry=4.0,
            ),
        )


def app_settings(data_dir: Path, database_url: str | None, embedding: str) -> dict[str, Any]:
    """The service as `learningtool serve` runs it (worker in the process, offline engines),
    on `data_dir`; the chat limit (20 a minute per user) is off, since every bench client
    is the same local user, and would otherwise answer 429 to load that is no abuse."""
    return {
        "data_dir": str(data_dir),
        "database_url": database_url,
        "embedding_provider": embedding,
        "worker_enabled": True,
        "log_level": "WARNING",
        "rate_chat_per_minute": 0,
    }


# -- CPU of the app's process tree ------------------------------------------------------------


@dataclass
class CpuUse:
    """CPU seconds summed over the windows of a phase: the app's own process, its child
    processes (extraction pool, embedding pool, graph worker) and this bench process (the
    clients), with the wall time they cover, from `bench.chat.CpuMark`s taken around each."""

    wall: float = 0.0
    app_main: float = 0.0
    app_children: float = 0.0
    bench: float = 0.0

    def add(self, before: tuple[float, CpuMark], after: tuple[float, CpuMark]) -> None:
        (start, first), (end, last) = before, after
        self.wall += end - start
        self.bench += last.bench - first.bench
        if first.app and last.app:
            self.app_main += last.app[0] - first.app[0]
            self.app_children += last.app[1] - first.app[1]

    def cores(self) -> dict[str, float | None]:
        """Each as a share of one core (2.0: two cores busy the whole time)."""
        parts = {
            "app_main_process": self.app_main,
            "app_child_processes": self.app_children,
            "bench_clients": self.bench,
        }
        return {
            name: common.r(v / self.wall, 2) if self.wall else None for name, v in parts.items()
        }


def cpu_mark(app_pid: int) -> tuple[float, CpuMark]:
    return time.monotonic(), CpuMark.take(app_pid)


# -- requests ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One request: its kind, when it was sent (time.monotonic()), how long it took, and its
    status (0: a transport error, with its name in `error`)."""

    kind: str
    sent: float
    seconds: float
    status: int
    error: str | None = None
    body: Any = None  # the JSON answer, when the caller asked for it

    @property
    def failed(self) -> bool:
        return not 200 <= self.status < 300


async def timed(
    client: Any, kind: str, method: str, url: str, *, keep: bool = False, **kwargs: Any
) -> Outcome:
    """Send one request and read its whole body (kept, as JSON, with `keep`); any exception
    is a transport error."""
    sent = time.monotonic()
    try:
        response = await client.request(method, url, **kwargs)
    except Exception as error:  # a timeout, a reset connection: counted, never raised
        return Outcome(kind, sent, time.monotonic() - sent, 0, f"{type(error).__name__}: {error}")
    seconds = time.monotonic() - sent
    detail = None if response.is_success else response.text[:300]
    body = response.json() if keep and response.is_success else None
    return Outcome(kind, sent, seconds, response.status_code, detail, body)


def latency_summary(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """count, errors, p50, p99, max (ms) of `outcomes`, all of them timed (errors too)."""
    figures = common.ms_stats([o.seconds for o in outcomes], ("count", "p50", "p99", "max"), 2)
    figures["errors"] = sum(1 for o in outcomes if o.failed)
    return figures


def by_kind(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """`latency_summary` of all the outcomes together and of each kind apart."""
    kinds = sorted({o.kind for o in outcomes})
    return {
        "all": latency_summary(outcomes),
        **{kind: latency_summary([o for o in outcomes if o.kind == kind]) for kind in kinds},
    }


def error_samples(outcomes: Sequence[Outcome], limit: int = 5) -> list[dict[str, Any]]:
    """The most frequent failures (kind, status, first 300 characters of the body or the
    transport error), with their counts: enough to reproduce them."""
    counts = Counter((o.kind, o.status, o.error) for o in outcomes if o.failed)
    return [
        {"kind": kind, "status": status, "detail": error, "count": count}
        for (kind, status, error), count in counts.most_common(limit)
    ]


# -- the job table, read from the bench side --------------------------------------------------


class JobTable:
    """Jobs by state, read with a synchronous driver in a thread of the bench process (the
    API has no job listing). SQLite: the app's file; PostgreSQL: its database."""

    def __init__(self, database_url: str) -> None:
        from sqlalchemy.engine import make_url

        url = make_url(database_url)
        self.sqlite_path = url.database if url.get_backend_name() == "sqlite" else None
        self.pg_url = (
            None
            if self.sqlite_path
            else url.set(drivername="postgresql").render_as_string(hide_password=False)
        )

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """Rows of `sql`, whose parameters are written `?` (SQLite's style)."""
        if self.sqlite_path:
            with contextlib.closing(sqlite3.connect(self.sqlite_path, timeout=30)) as db:
                return db.execute(sql, params).fetchall()
        import psycopg

        assert self.pg_url is not None
        with psycopg.connect(self.pg_url) as db:
            return db.execute(sql.replace("?", "%s"), params).fetchall()

    def _counts(self, notebook_id: str | None) -> list[tuple[Any, ...]]:
        where = " WHERE notebook_id = ?" if notebook_id else ""
        sql = f"SELECT kind, state, count(*) FROM jobs{where} GROUP BY kind, state"
        return self._query(sql, (notebook_id,) if notebook_id else ())

    def _spans(self, notebook_id: str) -> list[tuple[Any, ...]]:
        sql = (
            "SELECT kind, state, attempts, started_at, finished_at FROM jobs "
            "WHERE notebook_id = ? ORDER BY started_at"
        )
        return self._query(sql, (notebook_id,))

    async def spans(self, notebook_id: str) -> list[JobSpan]:
        """The notebook's jobs with the wall-clock span of their last attempt."""
        rows = await asyncio.to_thread(self._spans, notebook_id)
        return [
            JobSpan(kind, state, attempts, epoch(start), epoch(end))
            for kind, state, attempts, start, end in rows
        ]

    async def counts(self, notebook_id: str | None = None) -> dict[str, dict[str, int]]:
        """{kind: {state: count}} of the notebook's jobs (every job without a notebook)."""
        rows = await asyncio.to_thread(self._counts, notebook_id)
        counts: dict[str, dict[str, int]] = {}
        for kind, state, count in rows:
            counts.setdefault(kind, {})[state] = count
        return counts

    async def pending(self, notebook_id: str | None = None, kind: str | None = None) -> int:
        """Jobs queued or running (of one kind, if given)."""
        counts = await self.counts(notebook_id)
        return sum(
            states.get("queued", 0) + states.get("running", 0)
            for job_kind, states in counts.items()
            if kind is None or job_kind == kind
        )

    async def wait_idle(
        self, notebook_id: str | None, seconds: float, kind: str | None = None
    ) -> float:
        """Wait until no job (of `kind`) is queued or running; the seconds it took."""
        started = time.monotonic()
        while await self.pending(notebook_id, kind):
            if time.monotonic() - started > seconds:
                raise TimeoutError(f"jobs still pending after {seconds:g} s")
            await asyncio.sleep(0.5)
        return time.monotonic() - started


@dataclass(frozen=True)
class JobSpan:
    """A job's kind, state, attempts and its last attempt's start and end (Unix time)."""

    kind: str
    state: str
    attempts: int
    started: float | None
    finished: float | None

    def under_way(self, start: float, end: float) -> bool:
        """Whether it ran at some moment of [start, end] (Unix time)."""
        if self.started is None or self.started > end:
            return False
        return self.finished is None or self.finished >= start


def epoch(value: Any) -> float | None:
    """A stored timestamp as Unix time: SQLite gives naive UTC text, PostgreSQL an aware
    datetime."""
    from datetime import UTC, datetime

    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def failed_jobs(counts: dict[str, dict[str, int]]) -> dict[str, int]:
    """Jobs that ended failed or cancelled, by kind (none expected)."""
    bad = {
        kind: states.get("failed", 0) + states.get("cancelled", 0)
        for kind, states in counts.items()
    }
    return {kind: count for kind, count in bad.items() if count}


# -- documents --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    """A file to upload: its name (the multipart file name), bytes and content type."""

    name: str
    data: bytes
    content_type: str


def corpus_document(relative: str) -> Document:
    """A document of `bench/quality/corpora/`, as it is on disk."""
    path = CORPORA / relative
    kinds = {".pdf": "application/pdf", ".html": "text/html", ".txt": "text/plain"}
    return Document(path.name, path.read_bytes(), kinds.get(path.suffix, "text/plain"))


def speech_document() -> Document:
    """tests/fixtures/ingestion/speech.wav (5.8 s of speech): speech to text runs."""
    return Document(SPEECH.name, SPEECH.read_bytes(), "audio/wav")


def scanned_pdf(pages: int, seed: int) -> Document:
    """A PDF of `pages` scanned pages (an image each, no text layer), so OCR runs: paragraphs
    of the GPL-3 text drawn with `bench.documents.text_image`."""
    from bench import documents

    text = (CORPORA / "licences" / "GPL-3.txt").read_text()
    paragraphs = [" ".join(p.split()) for p in text.split("\n\n") if len(p.split()) > 25]
    rng = random.Random(seed)
    images = [documents.text_image(rng.sample(paragraphs, 3)) for _ in range(pages)]
    data = documents.scanned_pdf(images, title="Scanned pages")
    return Document(f"scan-{seed}.pdf", data, "application/pdf")


def page_range(document: Document, first: int, count: int) -> Document:
    """Pages `first` (1-based) to `first + count - 1` of a PDF as a PDF of their own
    (pypdf): a real typeset document in smaller pieces, for shorter runs."""
    import io

    from pypdf import PdfReader, PdfWriter

    reader = PdfReader(io.BytesIO(document.data))
    writer = PdfWriter()
    for page in reader.pages[first - 1 : first - 1 + count]:
        writer.add_page(page)
    out = io.BytesIO()
    writer.write(out)
    stem = document.name.removesuffix(".pdf")
    name = f"{stem}-p{first}-{first + count - 1}.pdf"
    return Document(name, out.getvalue(), document.content_type)


async def upload(client: Any, notebook: str, document: Document, title: str) -> Outcome:
    """POST the document as a multipart upload (field `file`) with its title."""
    files = {"file": (document.name, document.data, document.content_type)}
    return await timed(
        client,
        "upload",
        "POST",
        f"{API}/notebooks/{notebook}/sources",
        keep=True,
        files=files,
        data={"title": title},
    )


async def new_notebook(client: Any, name: str) -> str:
    response = await client.post(f"{API}/notebooks", json={"name": name})
    response.raise_for_status()
    return str(response.json()["id"])


async def seed_notebook(
    client: Any, jobs: JobTable, relatives: Sequence[str], limit: float
) -> tuple[str, list[str]]:
    """A notebook of the corpus files `relatives`, once every job of their sources (ingestion,
    study material, topics) has ended; its id and the ingest jobs' ids."""
    notebook = await new_notebook(client, "Reading notebook")
    job_ids = []
    for relative in relatives:
        document = corpus_document(relative)
        sent = await upload(client, notebook, document, document.name)
        if sent.status != 202:
            raise RuntimeError(f"seeding {relative} answered {sent.status}: {sent.error}")
        job_ids.append(str(sent.body["job"]["id"]))
    await jobs.wait_idle(notebook, limit)
    failed = failed_jobs(await jobs.counts(notebook))
    if failed:
        raise RuntimeError(f"seeding: jobs failed: {failed}")
    return notebook, job_ids
