"""Safe reruns of ``satugate demo``: a busy port stops it before anything is written,
and ``--reset`` starts afresh only in a demo's own folder."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

SATUGATE = str(Path(sys.executable).parent / "satugate")


def _demo(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SATUGATE, "demo", "--residents", "40", *args],
        cwd=cwd, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_a_busy_port_changes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    data.mkdir()
    clients = data / "demo-clients.json"
    clients.write_text(json.dumps({"clients": [{"client_secret": "kept"}]}))
    with socket.socket() as running:  # the demo already serving there
        running.bind(("127.0.0.1", 0))
        running.listen()
        port = running.getsockname()[1]
        done = _demo("--data-dir", str(data), "--port", str(port), cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"127.0.0.1:{port} is in use" in done.stderr and "nothing was changed" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert json.loads(clients.read_text())["clients"][0]["client_secret"] == "kept"
    assert sorted(p.name for p in data.iterdir()) == ["demo-clients.json"]


def test_reset_starts_afresh_and_only_in_a_demo_folder(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    made = _demo("--data-dir", str(data), "--no-serve", cwd=tmp_path)
    assert made.returncode == 0, made.stdout + made.stderr
    # Thirty days of history for the dashboard, labelled as synthetic, added once.
    assert "synthetic lookups over the last 30 days" in made.stdout
    assert (data / "history.seeded").exists()
    rerun = _demo("--data-dir", str(data), "--no-serve", cwd=tmp_path)
    assert rerun.returncode == 0 and "synthetic lookups" not in rerun.stdout
    first = json.loads((data / "demo-clients.json").read_text())
    (data / "stray.txt").write_text("gone after a reset")
    again = _demo("--data-dir", str(data), "--no-serve", "--reset", cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "starting afresh" in again.stdout and not (data / "stray.txt").exists()
    second = json.loads((data / "demo-clients.json").read_text())
    assert first["clients"][0]["client_secret"] != second["clients"][0]["client_secret"]

    other = tmp_path / "someone-elses"
    other.mkdir()
    (other / "thesis.tex").write_text("precious")
    refused = _demo("--data-dir", str(other), "--no-serve", "--reset", cwd=tmp_path)
    assert refused.returncode == 1 and "does not look like a demo's folder" in refused.stderr
    assert (other / "thesis.tex").read_text() == "precious"
