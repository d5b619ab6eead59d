"""Helpers shared by the benches: progress log, statistics, loop-lag windows, the app under
uvicorn on a loopback port, temporary databases, machine figures and the JSON report.

Light imports only at module level: the benches' spawned children (process pools, workers)
import their script again, and with it this module; uvicorn, httpx and psycopg are imported
inside the functions that need them (SQLAlchemy too).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import socket
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import httpx

API = "/api/v1"
PG_ADMIN_URL_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
TERMINAL = {"succeeded", "failed", "cancelled"}
LOAD_NOTE = "other processes share this machine; compare load averages with cpu_count"


def log(message: str) -> None:
    """A progress line on stderr (stdout carries the JSON report only)."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# -- statistics -------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def r(value: float | None, digits: int = 3) -> float | None:
    """`value` rounded to `digits`, None kept."""
    return None if value is None else round(value, digits)


def ms_stats(seconds: Sequence[float], labels: Sequence[str], digits: int = 3) -> dict[str, Any]:
    """Figures of `seconds` in milliseconds under `labels`, in their order, rounded to `digits`.

    A label names its figure, an `_ms` ending aside: `count`, `n` or `samples` (the number of
    values), `pNN` (percentile NN), `max` or `mean`; figures of no values are None.
    """
    ms = [value * 1000 for value in seconds]
    figures: dict[str, Any] = {}
    for label in labels:
        name = label.removesuffix("_ms")
        if name in ("count", "n", "samples"):
            figures[label] = len(ms)
        elif name == "max":
            figures[label] = r(max(ms, default=None), digits)
        elif name == "mean":
            figures[label] = r(statistics.fmean(ms) if ms else None, digits)
        elif name.startswith("p") and name[1:].isdigit():
            figures[label] = r(percentile(ms, float(name[1:])), digits)
        else:
            raise ValueError(f"no figure for the label {label!r}")
    return figures


def lag_summary(seconds: Sequence[float]) -> dict[str, Any]:
    """Loop lags: samples, p50, p99 and max in ms, to 2 digits."""
    return ms_stats(seconds, ("samples", "p50", "p99", "max"), 2)


# -- loop lag ---------------------------------------------------------------------------------


class FineLag:
    """The same measurement as `LoopLagMonitor` at a shorter interval, keeping every sample
    and nothing else (no metrics, no running max), so it adds as little load as it can."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.timed: list[tuple[float, float]] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="bench-fine-lag")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(self.interval)
            now = loop.time()
            self.timed.append((now, max(0.0, now - started - self.interval)))


def lag_window(monitor: Any, start: float, end: float) -> list[float]:
    """Lags of samples that woke within [start, end] (loop time), from a `FineLag` or the
    app's `LoopLagMonitor` (its `timed_samples()`)."""
    timed = monitor.timed if isinstance(monitor, FineLag) else monitor.timed_samples()
    return [lag for at, lag in list(timed) if start <= at <= end]


# -- the app under uvicorn --------------------------------------------------------------------


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop uvicorn would pick for `--loop name` (auto: uvloop when installed)."""
    import uvicorn

    return uvicorn.Config(app="unused:app", loop=name).get_loop_factory()


def loopback_listener() -> socket.socket:
    """A TCP listener on 127.0.0.1, on a free port.

    IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only when the
    listener's proto says TCP; `socket.socket()` leaves it 0 and every response written in
    two parts then waits ~40 ms for the client's delayed ACK (Nagle). `uvicorn.run(host,
    port)`, which `learningtool serve` uses, creates its listener the right way.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    return listener


async def wait_started(server: Any, task: asyncio.Task[Any], seconds: float) -> None:
    """Wait until the uvicorn `server` served by `task` has started; raise its startup error
    if it stopped, TimeoutError after `seconds`."""
    deadline = time.monotonic() + seconds
    while not server.started:
        if task.done():
            task.result()  # raises the startup error
            raise RuntimeError("the server stopped during startup")
        if time.monotonic() > deadline:
            raise TimeoutError("the server did not start")
        await asyncio.sleep(0.01)


async def stop_server(server: Any, task: asyncio.Task[Any], seconds: float) -> None:
    """Ask the uvicorn `server` to exit (its lifespan shutdown runs); force it after
    `seconds`, then allow 10 s more."""
    server.should_exit = True
    try:
        await asyncio.wait_for(asyncio.shield(task), seconds)
    except TimeoutError:
        server.force_exit = True
        await asyncio.wait_for(task, 10)


class Served(NamedTuple):
    """What `serve_app` yields: the port, and `time.perf_counter()` as serving began."""

    port: int
    began: float


@contextlib.asynccontextmanager
async def serve_app(
    app: Any, *, start_seconds: float, stop_seconds: float
) -> AsyncIterator[Served]:
    """Serve the ASGI `app` with `uvicorn.Server.serve()` on this loop, on a loopback port
    (`loopback_listener`), yielding once it has started; leaving stops it (`stop_server`),
    which runs the app's lifespan shutdown."""
    import uvicorn

    listener = loopback_listener()
    port: int = listener.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False)
    )
    began = time.perf_counter()
    serving = asyncio.create_task(server.serve(sockets=[listener]), name="uvicorn")
    try:
        await wait_started(server, serving, start_seconds)
        yield Served(port, began)
    finally:
        await stop_server(server, serving, stop_seconds)
        listener.close()


@contextlib.asynccontextmanager
async def local_client(settings: Any, port: int) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client for the app on 127.0.0.1:`port`, with the local user's token (read
    from `settings.token_file`) and a 120 s timeout."""
    import httpx

    token = (await asyncio.to_thread(settings.token_file.read_text)).strip()
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx.Timeout(120.0),
    ) as client:
        yield client


async def follow_job(client: Any, job_id: str) -> dict[str, Any]:
    """The job's terminal snapshot, from its server-sent event stream."""
    last: dict[str, Any] = {}
    async with client.stream("GET", f"{API}/jobs/{job_id}/events") as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                last = json.loads(line[5:])
                if last.get("state") in TERMINAL:
                    return last
    raise RuntimeError(f"the event stream ended before the job finished: {last}")


# -- databases --------------------------------------------------------------------------------


class Database(contextlib.AbstractContextManager["Database"]):
    """A fresh database: the SQLite file `sqlite_file` in `tmp`, or a PostgreSQL database
    `<pg_prefix><random>` created with psycopg autocommit and dropped on exit."""

    def __init__(
        self, backend: str, tmp: Path, pg_admin_url: str, *, pg_prefix: str, sqlite_file: str
    ) -> None:
        self.backend = backend
        self.tmp = tmp
        self.pg_admin_url = pg_admin_url
        self.pg_prefix = pg_prefix
        self.sqlite_file = sqlite_file
        self.pg_name: str | None = None
        self.url = ""

    def __enter__(self) -> Database:
        import psycopg
        from sqlalchemy.engine import make_url

        if self.backend == "sqlite":
            self.url = f"sqlite+aiosqlite:///{self.tmp / self.sqlite_file}"
            return self
        self.pg_name = f"{self.pg_prefix}{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.pg_admin_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.pg_name}"')
        self.url = (
            make_url(self.pg_admin_url)
            .set(drivername="postgresql+asyncpg", database=self.pg_name)
            .render_as_string(hide_password=False)
        )
        return self

    def __exit__(self, *_exc: object) -> None:
        import psycopg

        if self.pg_name is not None:
            with psycopg.connect(self.pg_admin_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')


# -- machine and report -----------------------------------------------------------------------


def cpu_jiffies() -> tuple[float, float, float] | None:
    """Machine-wide (busy, total, steal) jiffies from /proc/stat (Linux), else None."""
    try:
        fields = [float(value) for value in Path("/proc/stat").read_text().split()[1:9]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields), fields[7]


def cpus_usable() -> int | None:
    """CPUs this process may run on (its affinity), else the machine's count."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


# -- the app in-process ---------------------------------------------------------------------


async def open_offline_app(data_dir: Path, **settings: Any) -> tuple[Any, str]:
    """The app context on a fresh data directory (SQLite, local embedder, graph on, no
    in-app worker; `settings` override) and the id of a user made for the bench."""
    from learningtool.config import Settings
    from learningtool.db import session_scope
    from learningtool.main import open_context
    from learningtool.user import service as user_service

    values: dict[str, Any] = {
        "data_dir": data_dir,
        "embedding_provider": "local",
        "graph_enabled": True,
        "log_level": "WARNING",
        "worker_enabled": False,
        **settings,
    }
    context = await open_context(Settings(_env_file=None, **values))  # type: ignore[call-arg]
    async with session_scope(context.sessions) as session:
        user = await user_service.create_user(session, "bench")
    return context, str(user.id)


async def new_notebook(context: Any, user_id: str, name: str) -> str:
    """A notebook of the bench user, committed; its id."""
    from learningtool.db import session_scope
    from learningtool.notebook import service as notebook_service

    async with session_scope(context.sessions) as session:
        notebook = await notebook_service.create_notebook(session, owner_id=user_id, name=name)
        return str(notebook.id)


def loadavg() -> list[float]:
    """The 1, 5 and 15 minute load averages, to 2 digits."""
    return [round(value, 2) for value in os.getloadavg()]


def machine(
    load_before: list[float],
    load_after: list[float],
    *,
    with_usable: bool = False,
    note: str = LOAD_NOTE,
) -> dict[str, Any]:
    """The report's `machine` entry: CPU count (and usable CPUs), load before and after."""
    figures: dict[str, Any] = {"cpu_count": os.cpu_count()}
    if with_usable:
        figures["cpus_usable"] = cpus_usable()
    figures["loadavg_1_5_15_before"] = load_before
    figures["loadavg_1_5_15_after"] = load_after
    figures["note"] = note
    return figures


def identity(bench: str) -> dict[str, Any]:
    """The report's first entries: the bench's name, Python's version, the platform."""
    return {"bench": bench, "python": platform.python_version(), "platform": platform.platform()}


def emit(document: dict[str, Any], default: Callable[[Any], Any] | None = None) -> None:
    """Print the report as indented JSON on stdout; a closed pipe is not an error."""
    with contextlib.suppress(BrokenPipeError):
        print(json.dumps(document, indent=2, default=default))
