"""Command-line errors are one clear line and a non-zero status, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    "args",
    [
        ["console", "add-user", "bob", "--role", "admin"],
        ["console", "set-password", "bob"],
        ["audit", "export", "--database-url", "sqlite:///missing.db", "--no-record"],
        ["audit", "verify", "--url", "http://127.0.0.1:1", "--key", "x"],
        ["audit", "check-report", "missing.json", "--key", "x"],
        ["serve"],
    ],
)
def test_a_command_without_its_setup_says_what_is_missing(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"SATUGATE_DATA_DIR": str(tmp_path / "none"), "SATUGATE_CONSOLE_PASSWORD": "x" * 20}
    result = runner.invoke(app, args, env=env)
    assert result.exit_code not in (0, 1) or "error" in result.output.lower(), result.output
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "missing.db").exists()
