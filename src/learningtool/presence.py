"""Whether a server (or a `learningtool worker`) processes a data directory's jobs.

Some things have one owner per data directory: the knowledge graph's worker process holds
the graph files. A command-line tool that ran its own job worker beside a running server
fought it for that ownership: every file's graph step failed with "another knowledge-graph
worker uses this data directory" and waited for a retry (34 s for two files). So a process
that runs jobs holds an exclusive lock on `<data dir>/.worker.lock` for its lifetime, and a
command that finds it taken hands its work to that process as jobs and follows their
progress instead of running them itself.

`flock` locks belong to the open file: the kernel releases them when the process ends,
however it ends, so a killed server never leaves a stale lock behind. Where `fcntl` does not
exist (Windows), nobody is ever seen as present.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO

LOCK_NAME = ".worker.lock"


class WorkerPresence:
    """The lock held by a process that runs jobs on a data directory (blocking file calls:
    use it from a thread, or before the event loop runs)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_NAME
        self._handle: IO[str] | None = None

    def claim(self) -> bool:
        """Take the lock for as long as this process runs (or `release`); False when another
        process holds it."""
        handle = _lock(self.path)
        if handle is None:
            return False
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._handle = handle
        return True

    def release(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.close()  # closing the file releases the lock


def held_by_another(data_dir: Path) -> bool:
    """Whether another process holds the lock now."""
    handle = _lock(data_dir / LOCK_NAME)
    if handle is None:
        return _has_fcntl()
    handle.close()
    return False


def _has_fcntl() -> bool:
    try:
        import fcntl  # noqa: F401
    except ImportError:
        return False
    return True


def _lock(path: Path) -> IO[str] | None:
    """The open file with an exclusive lock taken, or None when another process has it (or
    the platform has no `flock`, which `held_by_another` tells apart)."""
    try:
        import fcntl
    except ImportError:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 - kept open: the lock lives with the file
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    with contextlib.suppress(OSError):
        os.chmod(path, 0o600)
    return handle
