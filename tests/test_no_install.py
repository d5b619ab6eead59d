"""Nothing installs anything at run time: the whole pipeline (upload, extraction, the
packaged embedding model, the LightRAG graph, study material, topics, a research run,
search) runs in a server where `pip` is replaced by a stub that records any call and fails.
`lightrag-hku` brings `pipmaster`, which installs missing packages on demand: this is the
proof that nothing here asks it to."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.ingestion.builders import pdf_bytes
from tests.support.server import Server

STUB = """import os, sys
with open(os.environ["LT_INSTALL_MARKER"], "a") as marker:
    marker.write(" ".join(sys.argv) + "\\n")
sys.exit("package installation is disabled in this test")
"""
TEXT = (
    "# Tides\\n\\nTides are the rise and fall of sea levels caused by the gravity of the Moon "
    "and the Sun acting on the rotating Earth. Spring tides happen at new and full moon.\\n"
)


def _stub_pip(root: Path) -> dict[str, str]:
    """`python -m pip` and `pip`/`uv` on the PATH all land in the stub."""
    package = root / "stub" / "pip"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text(STUB)
    binaries = root / "bin"
    binaries.mkdir()
    for name in ("pip", "pip3", "uv"):
        script = binaries / name
        script.write_text(f"#!{sys.executable}\n{STUB}")
        script.chmod(0o755)
    return {
        "PYTHONPATH": str(root / "stub"),
        "PATH": f"{binaries}{os.pathsep}{os.environ['PATH']}",
        "LT_INSTALL_MARKER": str(root / "installs.log"),
    }


def test_the_stub_records_an_install(tmp_path: Path) -> None:
    """The check below can fail: a `python -m pip install` under this environment is seen."""
    env = {**os.environ, **_stub_pip(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "anything"], env=env, capture_output=True
    )
    assert result.returncode != 0
    assert "install anything" in (tmp_path / "installs.log").read_text()


def _wait(api: httpx.Client, job_id: str, server: Server, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while (state := api.get(f"/api/v1/jobs/{job_id}").json()["state"]) not in (
        "succeeded",
        "failed",
        "cancelled",
    ):
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.3)
    assert state == "succeeded", server.output()


def test_the_pipeline_installs_nothing(tmp_path: Path) -> None:
    env = _stub_pip(tmp_path)
    env.update(
        LEARNINGTOOL_EMBEDDING_PROVIDER="local",  # the default: the packaged model
        LEARNINGTOOL_GRAPH_ENABLED="true",
        LEARNINGTOOL_RATE_SOURCES_PER_MINUTE="0",
    )
    server = Server(tmp_path / "data", None, env)
    try:
        token = server.wait_ready()
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.base, headers=headers, timeout=60) as api:
            notebook = api.post("/api/v1/notebooks", json={"name": "Tides"}).json()["id"]
            base = f"/api/v1/notebooks/{notebook}"
            pdf = pdf_bytes([["The Moon pulls the oceans toward it."], ["Neap tides are weak."]])
            added = [
                api.post(f"{base}/sources", json={"text": TEXT}).json(),
                api.post(
                    f"{base}/sources", files={"file": ("t.pdf", pdf, "application/pdf")}
                ).json(),
            ]
            for body in added:
                _wait(api, body["job"]["id"], server)
            run = api.post(
                f"{base}/research", json={"question": "What causes tides?", "effort": "low"}
            )
            _wait(api, run.json()["job"]["id"], server)
            hits = api.get(f"{base}/search", params={"q": "why the sea rises"}).json()["passages"]
            assert hits
            deadline = time.monotonic() + 60  # study material and topics follow each source
            while api.get(f"{base}/feed/counts").json().get("flashcard", 0) == 0:
                assert time.monotonic() < deadline, server.output()
                time.sleep(0.3)
    finally:
        server.stop()
    marker = tmp_path / "installs.log"
    assert not marker.exists(), marker.read_text()
