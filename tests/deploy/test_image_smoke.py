"""CI builds the image and runs it: ``.ci/run`` calls ``scripts/image-smoke`` and fails
when it fails. (The script itself needs root and podman; CI runs it, this suite does not.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "image-smoke"


def test_ci_runs_the_smoke_script_and_keeps_its_failure() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "scripts/image-smoke || status=$?" in ci
    assert 'exit "$status"' in ci.strip().splitlines()[-1]
    assert os.access(SCRIPT, os.X_OK)


def test_the_script_describes_itself() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "--no-chart" in result.stdout
