"""Residents' reports and agencies' receipts carry proofs into the witnessed checkpoint,
and ``satugate audit check-report`` checks a saved one offline."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from typer.testing import CliRunner

from audit.cosignature import Cosigner
from gateway.auditing.witnessing import WitnessCollector
from gateway.cli import app
from gateway.cli.audit import _verify_live
from tests.gateway.conftest import ISSUER, Gateway
from tests.gateway.residents import pick
from tests.witness.procs import witness_process

runner = CliRunner()


async def test_saved_report_and_receipt_check_offline(
    gateway: Gateway, demo_sources: Path, tmp_path: Path
) -> None:
    log_key = (await gateway.client.get("/audit/verifier-key")).text
    with witness_process(tmp_path / "w1", [log_key]) as w1:
        collector = WitnessCollector(
            gateway.services.audit,
            [(w1.url, w1.cosigner.verifier_key())],
            quorum=1,
            interval=0.1,
            timeout=2,
        )
        await collector.start()
        gateway.services.witnesses = collector
        try:
            (resident,) = pick(demo_sources, city="35.78")
            h = await gateway.headers("demo-dinsos", officer="officer.budi")
            read = await gateway.client.get(f"/v1/residents/{resident['nik']}", headers=h)
            receipt = read.json()["audit"]
            auditor = {
                "Authorization": f"Bearer {await gateway.token('demo-auditor')}",
                "X-On-Behalf-Of": "desk.officer",
            }
            issued = await gateway.client.post(
                f"/audit/subjects/{resident['nik']}/report-token", headers=auditor
            )
            mine = {"Authorization": f"Bearer {issued.json()['report_token']}"}
            deadline = time.monotonic() + 20
            while True:
                report = (await gateway.client.get("/v1/me/accesses", headers=mine)).json()
                if not any(e.get("pending") for e in report["proofs"]["entries"]):
                    break
                assert time.monotonic() < deadline, report["proofs"]
                await asyncio.sleep(0.1)
            proof = (
                await gateway.client.get(
                    f"/audit/receipts/{receipt['leaf_index']}/proof",
                    headers={"Authorization": h["Authorization"]},
                )
            ).json()
            # A live verification asks for the quorum too.
            wkey = w1.cosigner.verifier_key()
            token = await gateway.token("demo-auditor")
            transport = gateway.client._transport
            args = (ISSUER, log_key, None, token, None, None, 4)
            live, _ = await _verify_live(*args, transport=transport, witnesses=([wkey], 1))
            assert live.ok and live.witnessed_size is not None, live.problems
            stranger = Cosigner.generate(w1.cosigner.name).verifier_key()
            live, _ = await _verify_live(*args, transport=transport, witnesses=([stranger], 1))
            assert not live.ok and "witness cosignatures" in " ".join(live.problems)
        finally:
            await collector.stop()
            gateway.services.witnesses = None

    assert report["accesses"] and "leaf" not in report["proofs"]["entries"][0]
    assert "leaf" in proof["entries"][0], "the agency gets the bytes of its own call"
    saved = tmp_path / "report.json"
    saved.write_text(json.dumps(report))
    witness = ["--witness", w1.cosigner.verifier_key()]
    ok = runner.invoke(app, ["audit", "check-report", str(saved), "--key", log_key, *witness])
    assert ok.exit_code == 0, ok.output
    assert f"OK: {len(report['accesses'])} entries proven" in ok.output

    receipt_file = tmp_path / "receipt.json"
    receipt_file.write_text(json.dumps(proof))
    ok = runner.invoke(
        app, ["audit", "check-report", str(receipt_file), "--key", log_key, *witness]
    )
    assert ok.exit_code == 0, ok.output

    # Another history: an entry whose hash was changed, or a checkpoint nobody witnessed.
    forged = json.loads(saved.read_text())
    forged["proofs"]["entries"][0]["leaf_hash"] = forged["proofs"]["entries"][0]["audit_path"][0]
    saved.write_text(json.dumps(forged))
    bad = runner.invoke(app, ["audit", "check-report", str(saved), "--key", log_key, *witness])
    assert bad.exit_code == 1 and "FAILED" in bad.output
    plain = json.loads(receipt_file.read_text())
    plain["checkpoint"] = (
        plain["checkpoint"].split("\n\n")[0]
        + "\n\n"
        + (plain["checkpoint"].split("\n\n")[1].splitlines()[0] + "\n")
    )
    receipt_file.write_text(json.dumps(plain))
    bad = runner.invoke(
        app, ["audit", "check-report", str(receipt_file), "--key", log_key, *witness]
    )
    assert bad.exit_code == 1 and "witness cosignatures" in bad.output
    no_key = runner.invoke(
        app, ["audit", "check-report", str(receipt_file)], env={"SATUGATE_AUDIT_VERIFIER_KEY": ""}
    )
    assert no_key.exit_code == 2
