"""The `learningtool users` commands, against the configured database."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from learningtool.cli import cli
from learningtool.config import Settings, get_settings


@pytest.fixture
def runner(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("LEARNINGTOOL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("LEARNINGTOOL_DATABASE_URL", settings.sqlalchemy_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_users_create_token_list(runner: CliRunner) -> None:
    created = runner.invoke(cli, ["users", "create", "ada"])
    assert created.exit_code == 0, created.output
    token = created.output.strip()
    assert token.startswith("lt_") and len(token) > 40

    again = runner.invoke(cli, ["users", "token", "ada", "--label", "laptop"])
    assert again.exit_code == 0 and again.output.strip() != token

    listed = runner.invoke(cli, ["users", "list"])
    assert listed.exit_code == 0 and listed.output.startswith("ada\t")


def test_users_errors_are_messages(runner: CliRunner) -> None:
    runner.invoke(cli, ["users", "create", "ada"])
    duplicate = runner.invoke(cli, ["users", "create", "ada"])
    assert duplicate.exit_code != 0
    assert "exists already" in str(duplicate.exception) + duplicate.output
    unknown = runner.invoke(cli, ["users", "token", "nobody"])
    assert unknown.exit_code != 0


def test_ingest_files_into_a_notebook(runner: CliRunner, tmp_path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "cells.md").write_text("# Cells\n\nCells are the units of life.\n")
    (folder / "fake.pdf").write_bytes(b"\x7fELF\x02\x01\x01" + bytes(300))
    result = runner.invoke(cli, ["ingest", str(folder), "--notebook", "Biology", "--tag", "exam"])
    assert result.exit_code == 1, result.output  # one file was refused
    assert "fake.pdf" in result.output and "not recognised" in result.output
    assert "ready" in result.output

    again = runner.invoke(cli, ["ingest", str(folder / "cells.md"), "--notebook", "Biology"])
    assert again.exit_code == 0, again.output  # a duplicate: already processed
