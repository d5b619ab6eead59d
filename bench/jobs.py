"""Job queue bench: no-op throughput, claim latency and event-loop lag, SQLite and PostgreSQL.

Run from the repository root: `python bench/jobs.py [--jobs N] [--concurrency C] ...`.
Prints one JSON document on stdout (progress goes to stderr).

For each backend and each worker count, on a fresh database (SQLite: a WAL file in a temp
dir; PostgreSQL: `lt_bench_<random>` on the local server, dropped afterwards):

1. the parent migrates the database and enqueues N `bench.noop` jobs (clock not started);
2. it spawns the worker processes (multiprocessing, 'spawn'); each builds its own loop,
   AppContext and `Worker(context, concurrency=C)`, warms its connection pool and says ready;
3. the parent releases them all at once ("go") and polls the database until no job is queued
   or running ("drained"); meanwhile each child runs `Worker.run()` and a `LoopLagMonitor`;
4. each child then keeps its worker polling the empty queue for `--idle-seconds` under a
   second monitor (idle lag), stops, and sends back its counts, claim latencies and lags.

Throughput is N / (last `finished_at` - first `started_at`) read from the jobs table, i.e.
from the first claim to the last completion; the parent's go-to-drained wall time is reported
alongside (it also includes process wake-up and up to one poll of drain detection).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import json
import multiprocessing
import os
import platform
import queue as queue_module
import sys
import tempfile
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # `bench.handlers` must import in spawned children

from sqlalchemy import func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench import common  # noqa: E402
from bench.common import PG_ADMIN_URL_DEFAULT, cpu_jiffies, cpus_usable, log, ms_stats  # noqa: E402
from learningtool import migrate  # noqa: E402
from learningtool.config import Settings  # noqa: E402
from learningtool.context import create_context  # noqa: E402
from learningtool.jobs.queue import QUEUED, RUNNING, SUCCEEDED, enqueue  # noqa: E402
from learningtool.logs import configure_logging  # noqa: E402

HANDLER_MODULE = "bench.handlers"
KIND = "bench.noop"
LAG_INTERVAL = 0.05
POLL_SECONDS = 0.05
TARGETS = {
    "sqlite_1_worker_jobs_per_s_min": 200.0,
    "claim_latency_p99_ms_max": 50.0,
    "loop_lag_ms_max": 20.0,
}


def summary_ms(seconds: list[float]) -> dict[str, Any]:
    return ms_stats(seconds, ("count", "p50", "p95", "p99", "max"))


def bench_settings(data_dir: str, url: str, concurrency: int) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=data_dir,
        database_url=url,
        worker_concurrency=concurrency,
        job_poll_seconds=POLL_SECONDS,
        job_lease_seconds=30,
        log_level="WARNING",
    )


# -- worker process ---------------------------------------------------------------------------


def child_main(
    index: int,
    url: str,
    data_dir: str,
    concurrency: int,
    idle_seconds: float,
    go: Any,
    drained: Any,
    results: Any,
    profile_path: str | None,
) -> None:
    try:
        report = asyncio.run(
            _child(
                index, url, data_dir, concurrency, idle_seconds, go, drained, results, profile_path
            )
        )
        results.put(("done", index, report))
    except BaseException:
        results.put(("error", index, traceback.format_exc()))


class GcPauses:
    """Garbage-collector pauses (they stop the event loop), via `gc.callbacks`."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((info["generation"], time.perf_counter() - self._started))

    def summary(self) -> dict[str, Any]:
        return {
            "collections": len(self.pauses),
            "gen2_collections": sum(1 for generation, _ in self.pauses if generation == 2),
            "max_pause_ms": round(max((pause for _, pause in self.pauses), default=0) * 1000, 3),
            "total_ms": round(sum(pause for _, pause in self.pauses) * 1000, 3),
        }


async def _wait_mp_event(event: Any, seconds: float) -> None:
    """Wait in a thread: a multiprocessing event cannot be awaited (nor the wait cancelled)."""
    if not await asyncio.to_thread(event.wait, seconds):
        raise TimeoutError("the parent did not signal in time")


async def _child(
    index: int,
    url: str,
    data_dir: str,
    concurrency: int,
    idle_seconds: float,
    go: Any,
    drained: Any,
    results: Any,
    profile_path: str | None,
) -> dict[str, Any]:
    from learningtool.jobs.worker import Worker
    from learningtool.main import open_context
    from learningtool.metrics import REGISTRY, LoopLagMonitor

    settings = bench_settings(data_dir, url, concurrency)
    settings.job_modules = [HANDLER_MODULE]
    configure_logging(settings.log_level, json=True)  # structlog's default prints to stdout
    context = await open_context(settings)  # as `learningtool worker` does
    try:
        worker = Worker(context, concurrency=concurrency)

        async def ping() -> None:
            async with context.sessions() as session:
                await session.execute(text("SELECT 1"))

        # Open the connections the run will use, so that connecting is not measured.
        await asyncio.gather(*(ping() for _ in range(concurrency + 1)))
        results.put(("ready", index, os.getpid()))
        await _wait_mp_event(go, 60)

        gc_pauses = GcPauses()
        gc.callbacks.append(gc_pauses)
        profiler = cProfile.Profile() if profile_path else None
        cpu_started = time.process_time()
        busy_monitor = LoopLagMonitor(LAG_INTERVAL)
        busy_monitor.start()
        if profiler is not None:
            profiler.enable()
        run_task = asyncio.create_task(worker.run(), name="bench-worker")
        await _wait_mp_event(drained, 600)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile_path)
        await busy_monitor.stop()
        busy_cpu = time.process_time() - cpu_started
        gc.callbacks.remove(gc_pauses)
        busy_claims = list(worker.claim_latencies)
        jobs_run = REGISTRY.get_sample_value(
            "learningtool_jobs_finished_total", {"kind": KIND, "outcome": SUCCEEDED}
        )
        worker.claim_latencies.clear()

        idle_monitor = LoopLagMonitor(LAG_INTERVAL)
        idle_monitor.start()
        await asyncio.sleep(idle_seconds)
        await idle_monitor.stop()
        idle_claims = list(worker.claim_latencies)

        await worker.stop()
        await asyncio.wait_for(run_task, 10)  # re-raises whatever ended the worker
        return {
            "worker_id": worker.worker_id,
            "jobs": int(jobs_run or 0),
            "busy_cpu_s": busy_cpu,
            "busy_gc": gc_pauses.summary(),
            "busy_claims": busy_claims,
            "busy_lag": busy_monitor.samples(),
            "idle_claims": idle_claims,
            "idle_lag": idle_monitor.samples(),
        }
    finally:
        await context.close()


# -- parent -----------------------------------------------------------------------------------


async def _enqueue(url: str, data_dir: str, count: int) -> None:
    context = await create_context(bench_settings(data_dir, url, 1))
    try:
        async with context.sessions() as session:
            for _ in range(count):
                await enqueue(session, KIND, {})
            await session.commit()
    finally:
        await context.close()


async def _outstanding(context: Any) -> int:
    from learningtool.models import Job

    async with context.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(Job).where(Job.state.in_((QUEUED, RUNNING)))
        )
    return int(count or 0)


async def _job_stats(context: Any) -> dict[str, Any]:
    from learningtool.models import Job

    async with context.sessions() as session:
        row = (
            await session.execute(
                select(
                    func.count(),
                    func.min(Job.started_at),
                    func.max(Job.finished_at),
                    func.sum(Job.attempts),
                ).where(Job.state == SUCCEEDED)
            )
        ).one()
        states = dict(
            (await session.execute(select(Job.state, func.count()).group_by(Job.state))).all()
        )
    succeeded, first_start, last_finish, attempts = row
    # Both are aware UTC datetimes (min/max keep the column type), written by the workers'
    # clocks: one machine, so one clock.
    if first_start is not None and last_finish is not None:
        span_s: float | None = (last_finish - first_start).total_seconds()
    else:
        span_s = None
    return {"succeeded": succeeded, "attempts": attempts, "span_s": span_s, "states": states}


async def _run_workers(
    url: str,
    data_dir: str,
    workers: int,
    jobs: int,
    concurrency: int,
    idle_seconds: float,
    profile_dir: str | None,
    label: str,
) -> dict[str, Any]:
    mp = multiprocessing.get_context("spawn")
    go, drained, results = mp.Event(), mp.Event(), mp.Queue()
    processes = [
        mp.Process(
            target=child_main,
            args=(
                index,
                url,
                data_dir,
                concurrency,
                idle_seconds,
                go,
                drained,
                results,
                str(Path(profile_dir) / f"{label}-w{index}.prof") if profile_dir else None,
            ),
            name=f"bench-worker-{index}",
            daemon=True,
        )
        for index in range(workers)
    ]
    context = await create_context(bench_settings(data_dir, url, 1))
    reports: dict[int, dict[str, Any]] = {}

    async def receive(seconds: float) -> tuple[str, int, Any]:
        try:
            message = await asyncio.to_thread(results.get, True, seconds)
        except queue_module.Empty:
            raise TimeoutError("no message from the worker processes") from None
        if message[0] == "error":
            raise RuntimeError(f"worker {message[1]} failed:\n{message[2]}")
        return message  # type: ignore[no-any-return]

    try:
        for process in processes:
            process.start()
        for _ in processes:
            await receive(120)
        load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        cpu_before = cpu_jiffies()
        started = time.monotonic()
        go.set()
        deadline = started + 600
        while await _outstanding(context) > 0:
            if time.monotonic() > deadline:
                raise TimeoutError("jobs did not drain in time")
            if any(not process.is_alive() for process in processes):
                await receive(5)  # raises with the child's traceback if it sent one
                raise RuntimeError("a worker process exited early")
            await asyncio.sleep(POLL_SECONDS)
        wall_s = time.monotonic() - started
        cpu_after = cpu_jiffies()
        drained.set()
        for _ in processes:
            _kind, index, report = await receive(idle_seconds + 60)
            reports[index] = report
        for process in processes:
            await asyncio.to_thread(process.join, 15)
        stats = await _job_stats(context)
    finally:
        go.set()
        drained.set()
        for process in processes:
            if process.is_alive():
                process.terminate()
                await asyncio.to_thread(process.join, 5)
            if process.is_alive():
                process.kill()
                await asyncio.to_thread(process.join, 5)
        results.close()
        await context.close()

    ordered = [reports[index] for index in sorted(reports)]
    busy_claims = [value for report in ordered for value in report["busy_claims"]]
    idle_claims = [value for report in ordered for value in report["idle_claims"]]
    busy_lag = [value for report in ordered for value in report["busy_lag"]]
    idle_lag = [value for report in ordered for value in report["idle_lag"]]
    span_s = stats["span_s"]
    total_cpu = sum(report["busy_cpu_s"] for report in ordered)
    machine: dict[str, Any] = {"loadavg_1m_before": load_before}
    if cpu_before and cpu_after and cpu_after[1] > cpu_before[1]:
        elapsed = cpu_after[1] - cpu_before[1]
        machine["cpu_busy_pct"] = round(100 * (cpu_after[0] - cpu_before[0]) / elapsed, 1)
        machine["cpu_steal_pct"] = round(100 * (cpu_after[2] - cpu_before[2]) / elapsed, 1)
        machine["bench_workers_cpu_pct"] = round(
            100 * total_cpu / (wall_s * (os.cpu_count() or 1)), 1
        )
    return {
        "jobs_succeeded": stats["succeeded"],
        "job_states": stats["states"],
        "attempts_total": stats["attempts"],
        "throughput_jobs_per_s": round(jobs / span_s, 1) if span_s else None,
        "span_first_claim_to_last_completion_s": round(span_s, 3) if span_s else None,
        "wall_go_to_drained_s": round(wall_s, 3),
        "wall_jobs_per_s": round(jobs / wall_s, 1),
        "claim_latency_ms": summary_ms(busy_claims),
        "idle_claim_latency_ms": summary_ms(idle_claims),
        "loop_lag_ms": {"busy": summary_ms(busy_lag), "idle": summary_ms(idle_lag)},
        "worker_cpu_ms_per_job": round(total_cpu * 1000 / jobs, 3) if jobs else None,
        "machine_during_run": machine,
        "per_worker": [
            {
                "jobs": report["jobs"],
                "claims": len(report["busy_claims"]),
                "claim_p99_ms": summary_ms(report["busy_claims"])["p99"],
                "busy_lag_max_ms": summary_ms(report["busy_lag"])["max"],
                "idle_lag_max_ms": summary_ms(report["idle_lag"])["max"],
                "busy_cpu_s": round(report["busy_cpu_s"], 3),
                "busy_gc": report["busy_gc"],
            }
            for report in ordered
        ],
    }


class Database(common.Database):
    """A fresh, migrated database for one run: a SQLite file, or a PostgreSQL database that
    is dropped on exit."""

    def __init__(self, backend: str, tmp: Path, pg_admin_url: str) -> None:
        super().__init__(
            backend,
            tmp,
            pg_admin_url,
            pg_prefix="lt_bench_",
            sqlite_file=f"bench-{uuid.uuid4().hex[:10]}.db",
        )

    def __enter__(self) -> Database:
        super().__enter__()
        try:
            migrate.upgrade(self.url)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self


def sqlite_journal_mode(url: str) -> str | None:
    import sqlite3

    path = make_url(url).database
    with contextlib.closing(sqlite3.connect(str(path))) as connection:
        row = connection.execute("PRAGMA journal_mode").fetchone()
    return str(row[0]) if row else None


def run_config(
    backend: str, workers: int, args: argparse.Namespace, tmp: Path, attempt: int
) -> dict[str, Any]:
    label = f"{backend}-{workers}w-{attempt}"
    data_dir = tmp / label
    data_dir.mkdir()
    with Database(backend, tmp, args.pg_admin_url) as database:
        asyncio.run(_enqueue(database.url, str(data_dir), args.jobs))
        result = asyncio.run(
            _run_workers(
                database.url,
                str(data_dir),
                workers,
                args.jobs,
                args.concurrency,
                args.idle_seconds,
                args.profile_dir,
                label,
            )
        )
        if backend == "sqlite":
            result["sqlite_journal_mode"] = sqlite_journal_mode(database.url)
    return result


def targets(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    def figure(backend: str, workers: str, *path: str) -> Any:
        value: Any = results.get(backend, {}).get(workers)
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    sqlite_1 = figure("sqlite", "1", "throughput_jobs_per_s")
    claim_p99 = {
        f"{backend}/{workers}w": figure(backend, workers, "claim_latency_ms", "p99")
        for backend, by_workers in results.items()
        for workers in by_workers
    }
    lag = {
        phase: {
            f"{backend}/{workers}w": {
                "max": figure(backend, workers, "loop_lag_ms", phase, "max"),
                "p99": figure(backend, workers, "loop_lag_ms", phase, "p99"),
            }
            for backend, by_workers in results.items()
            for workers in by_workers
        }
        for phase in ("idle", "busy")
    }
    limit_lag = TARGETS["loop_lag_ms_max"]

    def all_below(values: list[Any], limit: float, *, strict: bool) -> bool:
        known = [value for value in values if value is not None]
        if not known or len(known) != len(values):
            return False
        return all(value < limit if strict else value <= limit for value in known)

    return {
        "sqlite_1_worker_throughput": {
            "target": f">= {TARGETS['sqlite_1_worker_jobs_per_s_min']:g} jobs/s",
            "value": sqlite_1,
            "met": sqlite_1 is not None and sqlite_1 >= TARGETS["sqlite_1_worker_jobs_per_s_min"],
        },
        "claim_latency_p99": {
            "target": f"<= {TARGETS['claim_latency_p99_ms_max']:g} ms in every configuration",
            "values_ms": claim_p99,
            "met_by": {
                key: value is not None and value <= TARGETS["claim_latency_p99_ms_max"]
                for key, value in claim_p99.items()
            },
            "met": all_below(
                list(claim_p99.values()), TARGETS["claim_latency_p99_ms_max"], strict=False
            ),
        },
        **{
            f"loop_lag_{phase}": {
                "target": f"< {limit_lag:g} ms (judged on the max sample; p99 shown too)",
                "values_ms": lag[phase],
                "met_by": {
                    key: value["max"] is not None and value["max"] < limit_lag
                    for key, value in lag[phase].items()
                },
                "met": all_below(
                    [value["max"] for value in lag[phase].values()], limit_lag, strict=True
                ),
                "met_on_p99": all_below(
                    [value["p99"] for value in lag[phase].values()], limit_lag, strict=True
                ),
            }
            for phase in ("idle", "busy")
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000, help="jobs per run (default 2000)")
    parser.add_argument("--concurrency", type=int, default=8, help="Worker concurrency (8)")
    parser.add_argument("--workers", default="1,4", help="worker process counts (1,4)")
    parser.add_argument("--backends", default="sqlite,postgresql", help="sqlite,postgresql")
    parser.add_argument("--idle-seconds", type=float, default=2.0, help="idle lag window (2)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per configuration; the median is reported (1)"
    )
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL_DEFAULT)
    parser.add_argument("--profile-dir", default=None, help="write a cProfile per worker here")
    args = parser.parse_args(argv)
    worker_counts = [int(value) for value in args.workers.split(",") if value.strip()]
    backends = [value.strip() for value in args.backends.split(",") if value.strip()]
    configure_logging("WARNING", json=True)

    started = time.monotonic()
    results: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="lt-bench-") as tmp:
        for backend in backends:
            results[backend] = {}
            for workers in worker_counts:
                runs: list[dict[str, Any]] = []
                for attempt in range(args.repeat):
                    log(f"{backend}: {workers} worker(s), {args.jobs} jobs, run {attempt + 1} ...")
                    try:
                        result = run_config(backend, workers, args, Path(tmp), attempt)
                    except Exception as error:
                        errors[f"{backend}/{workers}w/{attempt}"] = (
                            f"{type(error).__name__}: {error}"
                        )
                        log(traceback.format_exc())
                        continue
                    runs.append(result)
                    log(
                        f"  {result['throughput_jobs_per_s']} jobs/s, claim p99 "
                        f"{result['claim_latency_ms']['p99']} ms, busy lag max "
                        f"{result['loop_lag_ms']['busy']['max']} ms"
                    )
                if runs:  # with --repeat: the run of median throughput, and every throughput
                    runs.sort(key=lambda run: run["throughput_jobs_per_s"] or 0.0)
                    chosen = runs[(len(runs) - 1) // 2]
                    chosen["throughput_all_runs_jobs_per_s"] = [
                        run["throughput_jobs_per_s"] for run in runs
                    ]
                    results[backend][str(workers)] = chosen

    scaling = {}
    for backend, by_workers in results.items():
        one = by_workers.get("1", {}).get("throughput_jobs_per_s")
        for workers, result in by_workers.items():
            if workers != "1" and one and result.get("throughput_jobs_per_s"):
                scaling[f"{backend}_{workers}w_vs_1w"] = round(
                    result["throughput_jobs_per_s"] / one, 3
                )

    document = {
        "bench": "jobs",
        "machine": {
            "cpu_count": os.cpu_count(),
            "cpus_usable": cpus_usable(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "parameters": {
            "jobs": args.jobs,
            "repeat": args.repeat,
            "worker_concurrency": args.concurrency,
            "workers": worker_counts,
            "backends": backends,
            "job_kind": KIND,
            "job_poll_seconds": POLL_SECONDS,
            "job_lease_seconds": 30,
            "loop_lag_interval_s": LAG_INTERVAL,
            "idle_seconds": args.idle_seconds,
            "worker_processes": "multiprocessing 'spawn', one loop + AppContext + Worker each",
            "fresh_database_per_run": True,
            "repeat_selection": "with repeat > 1 each configuration reports its run of median "
            "throughput (lower median for an even count); all throughputs are listed",
            "throughput_clock": "first claim (min jobs.started_at) to last completion "
            "(max jobs.finished_at); jobs enqueued before the clock; "
            "wall_go_to_drained_s is the parent's view incl. drain detection",
            "claim_latency": "Worker.claim_latencies while jobs ran (includes the few "
            "empty claims at the tail); idle_claim_latency_ms: empty-queue polls",
            "loop_lag": "LoopLagMonitor samples pooled over the run's worker processes; "
            "busy: go to drained; idle: after drain, worker polling an empty queue",
            "per_worker.busy_gc": "garbage-collector pauses in that process while jobs ran",
            "machine_during_run": "whole-machine CPU (all processes, incl. the database server "
            "and anything else running) between go and drained; the bench is not isolated",
        },
        "results": results,
        "scaling_throughput_ratio": scaling,
        "targets": targets(results),
        "errors": errors,
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    print(json.dumps(document, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
