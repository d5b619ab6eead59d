"""The worker process: the spawn target `main`, the lock that keeps a second worker off the
same data directory, and the loop that answers requests arriving on the pipe as concurrent
tasks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from learningtool.knowledge.graph_worker.config import WorkerConfig
from learningtool.knowledge.graph_worker.host import Host
from learningtool.knowledge.graph_worker.reconcile import SEP

LOCK_FILE = ".graph-worker.lock"


def main(conn: Connection, config: WorkerConfig) -> None:
    """Entry point of the worker process (multiprocessing 'spawn' target)."""
    root = Path(config.notebooks_dir)
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = _single_writer(root)
        # LightRAG loads `.env` from the working directory when imported: use ours.
        os.chdir(root)
        _quiet(config.log_level)
        import lightrag.constants  # type: ignore[import-untyped]

        if lightrag.constants.GRAPH_FIELD_SEP != SEP:
            raise RuntimeError("unexpected LightRAG version: GRAPH_FIELD_SEP changed")
    except BaseException as exc:
        with contextlib.suppress(Exception):
            conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        raise SystemExit(1) from exc
    try:
        asyncio.run(_serve(conn, config))
    finally:
        lock.close()


def _single_writer(root: Path) -> Any:
    import fcntl

    handle = (root / LOCK_FILE).open("a")
    deadline = time.monotonic() + 10
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if time.monotonic() > deadline:
                handle.close()
                raise RuntimeError(
                    "another knowledge-graph worker uses this data directory"
                ) from None
            time.sleep(0.1)


def _quiet(level: str) -> None:
    from lightrag.utils import logger as lightrag_logger  # type: ignore[import-untyped]

    for log in (lightrag_logger, logging.getLogger("nano-vectordb")):
        log.setLevel(level)


async def _serve(conn: Connection, config: WorkerConfig) -> None:
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[Any] = asyncio.Queue()

    def read() -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                message = None
            loop.call_soon_threadsafe(inbox.put_nowait, message)
            if message is None:
                return

    host = Host(config)
    threading.Thread(target=read, name="graph-worker-reader", daemon=True).start()
    conn.send(("ready", os.getpid()))
    tasks: set[asyncio.Task[None]] = set()

    async def handle(request_id: int, op: str, args: dict[str, Any]) -> None:
        try:
            reply: tuple[Any, ...] = (request_id, True, await host.dispatch(op, args))
        except Exception as exc:  # every failure goes back to the caller
            reply = (request_id, False, (type(exc).__name__, str(exc) or type(exc).__name__))
        with contextlib.suppress(OSError):
            conn.send(reply)

    try:
        while (message := await inbox.get()) is not None:
            request_id, op, args = message
            if op == "shutdown":
                break
            task = asyncio.create_task(handle(request_id, op, args))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=30)
    finally:
        await host.close()
        with contextlib.suppress(OSError):
            conn.send(("closed", os.getpid()))
