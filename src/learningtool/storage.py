"""The blob store: a source's original bytes, one file per source inside its notebook's folder.

Layout: `<data_dir>/notebooks/<notebook_id>/blobs/<source_id>`. Keeping blobs per notebook
makes a notebook's purge one folder removal. Blobs are keyed by source, not by content: the
content hash lives in the source's row (unique per notebook), so a file belongs to exactly one
source and deleting it never races with a re-add of the same bytes (a content-addressed file
was shared by the deleted source and its re-added twin, and the purge could remove it under
the new one). Files written before that change are named by their SHA-256 and still read.
Every file operation runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import re
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from learningtool.errors import InsufficientStorage, PayloadTooLarge

_ID = re.compile(r"[0-9a-zA-Z]{1,64}")  # generated ids and legacy SHA-256 keys; never a path
WRITE_BATCH = 1024 * 1024


@dataclass(frozen=True)
class StagedBlob:
    """Bytes written to a temporary file, hashed and counted, not yet in the store."""

    path: Path
    sha256: str
    size: int


class BlobStore:
    def __init__(self, notebooks_dir: Path) -> None:
        self.notebooks_dir = notebooks_dir

    def _folder(self, notebook_id: str) -> Path:
        if not _ID.fullmatch(notebook_id):  # ids are generated hex; never a path piece
            raise ValueError("invalid notebook id")
        return self.notebooks_dir / notebook_id / "blobs"

    def path(self, notebook_id: str, key: str) -> Path:
        if not _ID.fullmatch(key):
            raise ValueError("invalid blob key")
        return self._folder(notebook_id) / key

    async def stage(
        self, notebook_id: str, chunks: AsyncIterator[bytes], *, max_bytes: int
    ) -> StagedBlob:
        """Stream `chunks` to a temporary file in the notebook's folder, hashing as it goes;
        raise `PayloadTooLarge` as soon as more than `max_bytes` arrive (the rest is never
        read) and leave nothing behind."""
        folder = self._folder(notebook_id)
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        descriptor, name = await asyncio.to_thread(tempfile.mkstemp, dir=folder, prefix=".up-")
        path = Path(name)
        digest, size, pending = hashlib.sha256(), 0, bytearray()
        try:
            with os.fdopen(descriptor, "wb") as handle:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise PayloadTooLarge(
                            f"the file is larger than the limit of {max_bytes} bytes",
                            details={"max_bytes": max_bytes},
                        )
                    digest.update(chunk)
                    pending += chunk
                    if len(pending) >= WRITE_BATCH:
                        await asyncio.to_thread(handle.write, bytes(pending))
                        pending.clear()
                await asyncio.to_thread(_write_and_sync, handle, bytes(pending))
        except OSError as error:
            await asyncio.to_thread(_unlink, path)
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                raise InsufficientStorage(
                    "the server's disk is full: the file was not stored; try again later"
                ) from None
            raise
        except BaseException:
            await asyncio.to_thread(_unlink, path)
            raise
        return StagedBlob(path=path, sha256=digest.hexdigest(), size=size)

    async def stage_bytes(self, notebook_id: str, data: bytes) -> StagedBlob:
        async def one() -> AsyncIterator[bytes]:
            yield data

        return await self.stage(notebook_id, one(), max_bytes=len(data))

    async def commit(self, notebook_id: str, staged: StagedBlob, key: str) -> str:
        """Move a staged file to `key` (its source's id) atomically; committing the same key
        again (a retried fetch) replaces the file whole."""
        await asyncio.to_thread(os.replace, staged.path, self.path(notebook_id, key))
        return key

    async def discard(self, staged: StagedBlob) -> None:
        await asyncio.to_thread(_unlink, staged.path)

    async def read(self, notebook_id: str, key: str) -> bytes:
        return await asyncio.to_thread(self.path(notebook_id, key).read_bytes)

    async def delete(self, notebook_id: str, key: str) -> None:
        await asyncio.to_thread(_unlink, self.path(notebook_id, key))

    async def sweep(self, notebook_id: str, keep: set[str], older_than: float) -> int:
        """Remove the notebook's stray files (see `stray_files`); how many went."""
        strays = await asyncio.to_thread(stray_files, self._folder(notebook_id), keep, older_than)
        for path in strays:
            await asyncio.to_thread(_unlink, path)
        return len(strays)


def stray_files(folder: Path, keep: set[str], older_than: float) -> list[Path]:
    """Files in a notebook's blob folder that no source owns and that were last written more
    than `older_than` seconds ago: uploads cut off by a crash (`.up-*`) and blobs stored
    just before a crash stopped their source's row from committing. The age spares an
    upload that another process is writing now. Runs in a thread."""
    if not folder.is_dir():
        return []
    cutoff = time.time() - older_than
    return [
        path
        for path in folder.iterdir()
        if path.name not in keep and path.is_file() and path.stat().st_mtime < cutoff
    ]


def _write_and_sync(handle: BinaryIO, data: bytes) -> None:
    """The last write: flushed to disk before the source's row can commit."""
    handle.write(data)
    handle.flush()
    os.fsync(handle.fileno())


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
