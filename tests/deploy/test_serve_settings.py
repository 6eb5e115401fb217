"""``satugate serve`` names what a production deployment lacks, one line each, and stops.

It never falls back to the embedded demo stores: a container started without its settings
or mounted files would otherwise serve an empty SQLite store, or stop with a traceback.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def serve(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "satugate"), "serve"],
        env={"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(cwd), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_every_missing_piece_is_named_on_one_line(tmp_path: Path) -> None:
    result = serve({}, tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 4, result.stderr
    for name in (
        "SATUGATE_DATABASE_URL",
        "SATUGATE_REDIS_URL",
        "SATUGATE_MASTER_KEY_FILE",
        "SATUGATE_SOURCES_FILE",
    ):
        assert sum(line.startswith(f"satugate serve: {name}") for line in lines) == 1, lines
    assert not (tmp_path / ".satugate").exists()


def test_unreadable_or_invalid_files_are_named(tmp_path: Path) -> None:
    (tmp_path / "empty").write_text("")
    (tmp_path / "key").write_text("not a key")
    (tmp_path / "sources.yaml").write_text("sources: [\n")
    result = serve(
        {
            "SATUGATE_DATABASE_URL_FILE": str(tmp_path / "missing"),
            "SATUGATE_REDIS_URL_FILE": str(tmp_path / "empty"),
            "SATUGATE_MASTER_KEY_FILE": str(tmp_path / "key"),
            "SATUGATE_SOURCES_FILE": str(tmp_path / "sources.yaml"),
        },
        tmp_path,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 4, result.stderr
    assert "SATUGATE_DATABASE_URL_FILE: cannot read" in lines[0]
    assert "SATUGATE_REDIS_URL_FILE names an empty file" in lines[1]
    assert "SATUGATE_MASTER_KEY_FILE" in lines[2] and "32 bytes" in lines[2]
    assert "SATUGATE_SOURCES_FILE" in lines[3] and "cannot read sources file" in lines[3]


def test_a_bad_setting_is_one_line_too(tmp_path: Path) -> None:
    result = serve({"SATUGATE_ISSUER": "http://gateway.example", "SATUGATE_WORKERS": "x"}, tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert sorted(result.stderr.splitlines()) == [
        "satugate serve: SATUGATE_ISSUER must be an https:// URL (http:// only on localhost)",
        "satugate serve: SATUGATE_WORKERS: Input should be a valid integer, unable to parse"
        " string as an integer",
    ]
