"""The README's quick-start block, run as written (bash, curl and jq) against a live server:
the first thing a new user copies must work. Only the port is changed, to the test
server's."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.ingestion.builders import pdf_bytes
from tests.support.server import REPO, Server

LECTURE = [
    ["Photosynthesis turns light into chemical energy in the chloroplasts of plant cells."],
    ["The Calvin cycle fixes carbon dioxide into sugars using ATP and NADPH."],
]


def quick_start_block() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Using it", 1)[1]
    found = re.search(r"```sh\n(.*?)```", section, re.S)
    assert found, "the README's 'Using it' section has no sh block"
    return found.group(1)


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="needs curl, jq")
def test_the_readme_quick_start_works_as_written(tmp_path: Path) -> None:
    block = quick_start_block()
    assert "127.0.0.1:8000" in block  # the documented default port
    (tmp_path / "lecture.pdf").write_bytes(pdf_bytes(LECTURE))
    data = tmp_path / "data"
    server = Server(data, None)
    try:
        server.wait_ready()
        script = block.replace("127.0.0.1:8000", f"127.0.0.1:{server.port}")
        env = {**os.environ, "LEARNINGTOOL_DATA_DIR": str(data)}
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr + server.output()
    finally:
        server.stop()
    documents = _json_documents(result.stdout)
    search = next(d for d in documents if isinstance(d, dict) and "passages" in d)
    assert "Photosynthesis" in json.dumps(search["passages"])
    chunks = next(d for d in documents if isinstance(d, dict) and "items" in d)
    assert any("Calvin cycle" in item["text"] for item in chunks["items"])
    assert "succeeded" in result.stdout  # the job's events ran until it was done


def _json_documents(output: str) -> list[object]:
    """The JSON documents curl printed, back to back or between server-sent event lines."""
    decoder = json.JSONDecoder()
    found, position = [], 0
    while (start := output.find("{", position)) != -1:
        try:
            document, position = decoder.raw_decode(output, start)
        except json.JSONDecodeError:
            position = start + 1
            continue
        found.append(document)
    return found
