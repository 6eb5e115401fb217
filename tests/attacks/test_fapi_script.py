"""The README's FAPI demo script against a real gateway process: the client's key is
registered by two administrators, a token is taken with private_key_jwt and DPoP, and a
resident is read with a proof."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults.procs import demo_gateway

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fapi-client.py"


def test_the_readme_script_reads_a_resident_with_a_bound_token(
    attack_sources: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"  # where demo_gateway seeds the data folder
    with demo_gateway(attack_sources, tmp_path) as (gw, demo):
        env = {"SATUGATE_URL": gw.base, "SATUGATE_DATA_DIR": str(data_dir), "PATH": ""}

        def run(*args: str) -> str:
            done = subprocess.run(
                [sys.executable, str(SCRIPT), *args],
                env=env, capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr[-2000:]
            return done.stdout

        assert "registered" in run("register")
        issued = json.loads(run("token"))
        assert issued["token_type"] == "DPoP"
        nik = demo["sample_residents"][0]["nik"]
        out = run("lookup", nik)
        assert out.startswith("200 "), out[:500]
        body = json.loads(out[4:])
        assert body["audit"]["leaf_index"] >= 0
        # The token alone, without a proof, is refused.
        import httpx

        token = (data_dir / "fapi-client-token").read_text()
        r = httpx.get(
            f"{gw.base}/v1/residents/{nik}",
            headers={"Authorization": f"Bearer {token}", "X-Purpose": "social_assistance",
                     "X-On-Behalf-Of": "officer.ani"},
        )  # fmt: skip
        assert r.status_code == 401
