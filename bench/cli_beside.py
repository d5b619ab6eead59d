"""CLI-beside-server bench: `learningtool ingest` of three documents into a notebook, alone
on a data directory against beside a running server on the same directory (which then
processes the jobs: `learningtool.presence`). Wall time of the command, rounds interleaved.

Run from the repository root: `python bench/cli_beside.py [--rounds N]`. Prints one JSON
document on stdout. The server (`bench.served.AppProcess`: uvicorn in a child process,
worker in it, local MiniLM, graph on) has used its graph once before the command runs, as a
server in use has. Target: beside no slower than alone (ratio <= 1).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, served
from bench.common import API, log

DOCUMENTS = ("licences/GPL-3.txt", "licences/MPL-2.0.txt", "licences/Apache-2.0.txt")


def _folder(root: Path) -> Path:
    folder = root / "documents"
    folder.mkdir()
    for relative in DOCUMENTS:
        (folder / Path(relative).name).write_bytes((served.CORPORA / relative).read_bytes())
    return folder


async def _command(data_dir: Path, folder: Path) -> float:
    env = {**os.environ, "LEARNINGTOOL_DATA_DIR": str(data_dir), "LEARNINGTOOL_LOG_LEVEL": "ERROR"}
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "learningtool",
        "ingest",
        str(folder),
        "--notebook",
        "Licences",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    took = time.monotonic() - started
    if process.returncode != 0:
        raise RuntimeError(f"ingest failed: {output.decode(errors='replace')[-2000:]}")
    return took


async def _alone(folder: Path) -> float:
    with tempfile.TemporaryDirectory(prefix="lt-cli-alone-") as directory:
        return await _command(Path(directory), folder)


async def _beside(folder: Path) -> float:
    with tempfile.TemporaryDirectory(prefix="lt-cli-beside-") as directory:
        data_dir = Path(directory)
        settings = served.app_settings(data_dir, None, "local")
        settings["graph_enabled"] = True
        app = served.AppProcess(settings, "auto")
        await app.start()
        try:
            jobs = served.JobTable(f"sqlite+aiosqlite:///{data_dir / 'learningtool.db'}")
            async with app.client() as client:  # the server's graph in use, as in real life
                notebook = (await client.post(f"{API}/notebooks", json={"name": "W"})).json()
                text = {"text": "Photosynthesis turns light into chemical energy."}
                await client.post(f"{API}/notebooks/{notebook['id']}/sources", json=text)
                await jobs.wait_idle(notebook["id"], 300)
            return await _command(data_dir, folder)
        finally:
            await app.stop()
            app.kill()


async def run(rounds: int) -> dict[str, Any]:
    load_before = common.loadavg()
    alone: list[float] = []
    beside: list[float] = []
    with tempfile.TemporaryDirectory(prefix="lt-cli-docs-") as directory:
        folder = _folder(Path(directory))
        for number in range(rounds):
            alone.append(await _alone(folder))
            beside.append(await _beside(folder))
            log(f"round {number + 1}: alone {alone[-1]:.1f} s, beside {beside[-1]:.1f} s")
    ratio = statistics.median(beside) / statistics.median(alone)
    return {
        **common.identity("cli_beside"),
        "machine": common.machine(load_before, common.loadavg()),
        "documents": list(DOCUMENTS),
        "alone_s": [round(value, 2) for value in alone],
        "beside_s": [round(value, 2) for value in beside],
        "ratio_beside_vs_alone_median": round(ratio, 2),
        "targets": {"ratio_max": 1.0, "met": ratio <= 1.0},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    common.emit(asyncio.run(run(parser.parse_args().rounds)))


if __name__ == "__main__":
    main()
