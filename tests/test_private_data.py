"""The data directory is private to the user running the server, and the token is shown on
the first start only (the audit found the database 0644 in a 0755 folder, and the token in
every start's output)."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest

from learningtool.config import Settings
from learningtool.main import create_app
from tests.conftest import Api

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _modes(root: Path) -> dict[str, int]:
    return {
        str(path.relative_to(root)): stat.S_IMODE(path.stat().st_mode)
        for path in [root, *root.rglob("*")]
    }


async def test_files_and_folders_are_private(settings: Settings) -> None:
    own = settings.model_copy(update={"database_url": None})  # SQLite inside the data dir
    app = create_app(own)
    async with app.router.lifespan_context(app):
        api = Api(app, app.state.context, "")
        async with api.client(await _token(own)) as client:
            created = await client.post("/api/v1/notebooks", json={"name": "Private"})
            notebook = created.json()["id"]
            await client.post(f"/api/v1/notebooks/{notebook}/sources", json={"text": "Notes."})
        modes = await asyncio.to_thread(_modes, own.data_dir)
    assert modes["."] == 0o700
    assert modes["learningtool.db"] == 0o600 and modes["local-token"] == 0o600
    assert any(name.startswith("notebooks/") and "blobs/" in name for name in modes)
    loose = {name: oct(mode) for name, mode in modes.items() if mode & 0o077}
    assert loose == {}


async def _token(settings: Settings) -> str:
    return (await asyncio.to_thread(settings.token_file.read_text)).strip()


async def test_the_token_is_printed_on_the_first_start_only(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = []
    for _ in range(2):
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            pass
        outputs.append(capsys.readouterr().err)
    token = await _token(settings)
    assert token in outputs[0]
    assert token not in outputs[1] and str(settings.token_file) in outputs[1]
