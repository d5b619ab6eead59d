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


def _lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip()]


def test_users_tokens_revoke_and_rotate(runner: CliRunner, settings: Settings) -> None:
    runner.invoke(cli, ["users", "create", "ada"])
    runner.invoke(cli, ["users", "token", "ada", "--label", "laptop"])
    tokens = _lines(runner.invoke(cli, ["users", "tokens", "ada"]).output)
    assert [line.split("\t")[1] for line in tokens] == ["default", "laptop"]
    assert all(line.split("\t")[3] == "never" for line in tokens)

    laptop = tokens[1].split("\t")[0]
    assert runner.invoke(cli, ["users", "revoke", "ada", laptop]).exit_code == 0
    assert len(_lines(runner.invoke(cli, ["users", "tokens", "ada"]).output)) == 1
    assert runner.invoke(cli, ["users", "revoke", "ada", laptop]).exit_code != 0  # gone

    rotated = runner.invoke(cli, ["users", "rotate", "ada", "--label", "new"])
    assert rotated.exit_code == 0 and rotated.output.strip().startswith("lt_")
    after = _lines(runner.invoke(cli, ["users", "tokens", "ada"]).output)
    assert [line.split("\t")[1] for line in after] == ["new"]


def test_rotating_the_local_user_rewrites_the_kept_token(
    runner: CliRunner, settings: Settings, tmp_path
) -> None:
    (tmp_path / "a.md").write_text("# A\n\nSome text.\n")
    runner.invoke(cli, ["ingest", str(tmp_path / "a.md"), "--notebook", "N"])  # makes `local`
    kept = settings.token_file.read_text().strip()
    rotated = runner.invoke(cli, ["users", "rotate", "local"]).output.strip()
    assert rotated != kept and settings.token_file.read_text().strip() == rotated
    assert settings.token_file.stat().st_mode & 0o777 == 0o600


def test_users_delete_removes_the_user_and_their_notebooks(
    runner: CliRunner, settings: Settings, tmp_path
) -> None:
    runner.invoke(cli, ["users", "create", "ada"])
    (tmp_path / "cells.md").write_text("# Cells\n\nCells are the units of life.\n")
    added = runner.invoke(
        cli, ["ingest", str(tmp_path / "cells.md"), "--notebook", "B", "--user", "ada"]
    )
    assert added.exit_code == 0, added.output
    notebooks = [p for p in settings.notebooks_dir.iterdir() if not p.name.startswith(".")]
    assert notebooks, list(settings.data_dir.rglob("*"))  # the file is kept under its notebook

    refused = runner.invoke(cli, ["users", "delete", "ada"])
    assert refused.exit_code == 2 and "--yes" in refused.output
    deleted = runner.invoke(cli, ["users", "delete", "ada", "--yes"])
    assert deleted.exit_code == 0, deleted.output
    assert "1 notebooks" in deleted.output
    assert "ada" not in runner.invoke(cli, ["users", "list"]).output
    left = [p for p in notebooks if p.exists()]
    assert not left, [list(p.rglob("*")) for p in left]  # files and graph purged
    assert runner.invoke(cli, ["users", "tokens", "ada"]).exit_code != 0
