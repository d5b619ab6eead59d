"""Footprint bench: the server's start-up time (a fresh process to `/healthz` answering) and
the resident memory of the server and every process it starts, after start, after
ingesting the five documents of a realistic notebook, and after the extraction processes
have been idle, with what each process holds.

Run from the repository root: `python bench/footprint.py [--media] [--idle-seconds N]`.
Prints one JSON document on stdout (progress on stderr). Nothing is asserted.

The server is `create_app` as `learningtool serve` runs it (SQLite, worker in the process,
offline engines, the packaged MiniLM embedder, the graph on) in a spawned child
(`bench.served.AppProcess`). Documents: R-intro.pdf (105 pages), the Git FAQ (HTML), the
grep and ssh manual pages and the GPL-3 text, from `bench/quality/corpora/`; a recording
(speech to text) and a scanned page (OCR) are added with `--media`, to load those models.

Per process (the server and its descendants, read from /proc): RSS, and PSS and USS from
`smaps_rollup` (PSS shares pages among the processes that map them, so the PSS column sums
to what the tree really takes; RSS counts shared pages in each), and its role, guessed from
the shared libraries it maps (onnxruntime: the embedding model or OCR; ctranslate2: speech
to text; pandas: the LightRAG graph worker).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, served
from bench.common import API, log

DOCUMENTS = (
    "r-intro/R-intro.pdf",
    "git-manual/gitfaq.html",
    "man-pages/grep.1.txt",
    "man-pages/ssh.1.txt",
    "licences/GPL-3.txt",
)
ROLES = (  # the first library found names the role
    ("ctranslate2", "speech to text"),
    ("pandas", "knowledge graph (LightRAG)"),
    ("onnxruntime", "ONNX model (embedding or OCR)"),
)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid:
            found.append(int(entry.name))
    return found


def _tree(pid: int) -> list[int]:
    pids, queue = [], [pid]
    while queue:
        current = queue.pop()
        pids.append(current)
        queue.extend(_children(current))
    return pids


def _kib(path: Path, field: str) -> int | None:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _role(pid: int, root: int) -> str:
    if pid == root:
        return "server (API, worker, event loop)"
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return "gone"
    for library, role in ROLES:
        if library in maps:
            return role
    return "child process (no model loaded)"


def snapshot(root: int) -> dict[str, Any]:
    """Memory of `root` and its descendants, in MiB."""
    rows = []
    for pid in _tree(root):
        rollup = Path(f"/proc/{pid}/smaps_rollup")
        rss = _kib(Path(f"/proc/{pid}/status"), "VmRSS")
        if rss is None:
            continue
        pss = _kib(rollup, "Pss")
        private = sum(
            value or 0 for value in (_kib(rollup, "Private_Clean"), _kib(rollup, "Private_Dirty"))
        )
        rows.append(
            {
                "pid": pid,
                "role": _role(pid, root),
                "rss_mib": round(rss / 1024, 1),
                "pss_mib": round((pss or 0) / 1024, 1),
                "uss_mib": round(private / 1024, 1),
            }
        )
    return {
        "processes": len(rows),
        "rss_mib": round(sum(row["rss_mib"] for row in rows), 1),
        "pss_mib": round(sum(row["pss_mib"] for row in rows), 1),
        "by_process": sorted(rows, key=lambda row: -row["pss_mib"]),
    }


async def _ingest(app: served.AppProcess, jobs: served.JobTable, media: bool) -> dict[str, Any]:
    documents = [served.corpus_document(relative) for relative in DOCUMENTS]
    if media:
        documents += [served.speech_document(), served.scanned_pdf(1, seed=3)]
    started = time.monotonic()
    async with app.client() as client:
        notebook = (await client.post(f"{API}/notebooks", json={"name": "Memory"})).json()["id"]
        for document in documents:
            files = {"file": (document.name, document.data, document.content_type)}
            response = await client.post(f"{API}/notebooks/{notebook}/sources", files=files)
            response.raise_for_status()
        await asyncio.sleep(1)
        await jobs.wait_idle(notebook, 1800)
    return {
        "documents": [document.name for document in documents],
        "seconds": round(time.monotonic() - started, 1),
        "jobs": await jobs.counts(notebook),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    load_before = common.loadavg()
    with tempfile.TemporaryDirectory(prefix="lt-memory-") as directory:
        data_dir = Path(directory)
        settings = served.app_settings(data_dir, None, "local")
        settings["graph_enabled"] = True
        app = served.AppProcess(settings, "auto")
        starting = time.monotonic()
        await app.start()
        async with app.client() as client:
            (await client.get("/healthz")).raise_for_status()
        start_seconds = time.monotonic() - starting
        try:
            await asyncio.sleep(args.settle_seconds)  # the embedding model's warm-up
            after_start = snapshot(app.pid)
            log(f"after start: {after_start['pss_mib']} MiB PSS")
            jobs = served.JobTable(f"sqlite+aiosqlite:///{data_dir / 'learningtool.db'}")
            ingested = await _ingest(app, jobs, args.media)
            after_ingest = snapshot(app.pid)
            log(f"after ingesting: {after_ingest['pss_mib']} MiB PSS")
            await asyncio.sleep(args.idle_seconds)
            after_idle = snapshot(app.pid)
            log(f"after {args.idle_seconds:g} s idle: {after_idle['pss_mib']} MiB PSS")
        finally:
            await app.stop()
            app.kill()
    return {
        **common.identity("footprint"),
        "machine": common.machine(load_before, common.loadavg()),
        "start_to_healthz_s": round(start_seconds, 2),
        "targets": {
            "total_after_ingest_mib_max": 1024,
            "total_after_ingest_pss_mib": after_ingest["pss_mib"],
            "memory_met": after_ingest["pss_mib"] <= 1024,
            "start_s_max": 2.0,
            "start_met": start_seconds <= 2.0,
        },
        "ingested": ingested,
        "after_start": after_start,
        "after_ingest": after_ingest,
        f"after_{args.idle_seconds:g}s_idle": after_idle,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--media", action="store_true", help="add a recording and a scan")
    parser.add_argument("--settle-seconds", type=float, default=10.0)
    parser.add_argument("--idle-seconds", type=float, default=150.0)
    common.emit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
