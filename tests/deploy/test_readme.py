"""The README runs as written: its shell blocks, in order, in one shell, against a live
demo on a free port. A block the test must not run says so, and why, in a comment
``<!-- readme-test: skip: REASON -->`` on the line before it."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import under_ci

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SKIP = re.compile(r"<!--\s*readme-test:\s*skip:\s*(?P<reason>[^>]+?)\s*-->")


@dataclass(frozen=True)
class Block:
    line: int
    code: str
    skip: str | None


def shell_blocks(text: str) -> list[Block]:
    """Every ```sh block of the text, with its skip reason if it has one."""
    blocks: list[Block] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```sh":
            start = i
            i += 1
            body: list[str] = []
            while lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            mark = SKIP.search(lines[start - 1]) if start > 0 else None
            blocks.append(Block(start + 1, "\n".join(body), mark["reason"] if mark else None))
        i += 1
    return blocks


def test_every_shell_block_is_run_or_says_why_not() -> None:
    blocks = shell_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 6
    run = [b for b in blocks if b.skip is None]
    assert len(run) >= 4, "the walkthrough's blocks run"
    for block in blocks:
        assert block.skip is None or len(block.skip) > 10, f"line {block.line}: say why"
    # The walkthrough takes its address from demo-clients.json, never a fixed port.
    for block in run:
        commands = [line.split("#")[0] for line in block.code.split("\n")]
        assert not any("127.0.0.1:" in c for c in commands), f"README line {block.line}: use $B"


def _free_port_pair() -> int:
    """A port p with p and p + 100 (the demo's witness) both free."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + 100 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 100))
            except OSError:
                continue
        return port
    raise RuntimeError("no free pair of ports")


@pytest.fixture(scope="module")
def live_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A checkout-like folder (the virtualenv and the policies linked in) with a demo
    serving from its ``.satugate``."""
    for tool in ("curl", "jq"):
        if shutil.which(tool) is None:
            if under_ci():
                pytest.fail(f"the README's commands need {tool}; CI installs it", pytrace=False)
            pytest.skip(f"the README's commands need {tool}")
    work = tmp_path_factory.mktemp("readme")
    os.symlink(Path(sys.executable).parents[1], work / ".venv")
    os.symlink(ROOT / "policies", work / "policies")
    os.symlink(ROOT / "scripts", work / "scripts")
    port = _free_port_pair()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SATUGATE_")}
    log = (work / "demo.log").open("wb")
    proc = subprocess.Popen(
        [str(work / ".venv" / "bin" / "satugate"), "demo", "--port", str(port),
         "--residents", "300", "--seed", "5"],
        cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while b"serving on" not in (work / "demo.log").read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the demo did not start:\n" + (work / "demo.log").read_text())
            time.sleep(0.2)
        clients = json.loads((work / ".satugate" / "demo-clients.json").read_text())
        assert clients["base_url"] == f"http://127.0.0.1:{port}"
        yield work
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_the_readme_runs_as_written(live_demo: Path) -> None:
    blocks = shell_blocks(README.read_text(encoding="utf-8"))
    script = ["set -eo pipefail"]
    for block in blocks:
        if block.skip is not None:
            continue
        script += [f"echo '>>> README line {block.line}' >&2", block.code]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SATUGATE_")}
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=live_demo, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    out, err = done.stdout, done.stderr
    where = f"\n--- stdout ---\n{out[-4000:]}\n--- stderr ---\n{err[-4000:]}"
    assert done.returncode == 0, where
    assert "jq: error" not in err and "parse error" not in err, where
    assert "internal_error" not in out and "Traceback" not in out + err, where
    # What the walkthrough shows came out as the README says.
    assert '"two_person_rule"' in out, where
    assert '"status": "closed"' in out, where
    assert '"state": "acknowledged"' in out and '"state": "closed"' in out, where
    assert "consistency    checked against seen.checkpoint" in out + err, where
    assert "witness quorum met" in out + err, where
