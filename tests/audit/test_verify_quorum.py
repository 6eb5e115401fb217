"""``satugate audit verify --witness KEY --quorum K``: the log's signature alone is not enough."""

from __future__ import annotations

import asyncio
from pathlib import Path

from typer.testing import CliRunner

import audit
from audit.checkpoint import parse_note
from audit.cosignature import Cosigner, add_signatures
from gateway.cli.audit import app
from tests.audit.test_cli import grow

runner = CliRunner()


def test_export_verifies_only_with_the_witness_quorum(
    tmp_path: Path, signer: audit.CheckpointSigner
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    note = asyncio.run(grow(url, signer, 12))
    dump = tmp_path / "audit.jsonl"
    result = runner.invoke(
        app, ["export", "--database-url", url, "--no-record", "--out", str(dump)]
    )
    assert result.exit_code == 0, result.output
    w1, w2, w3 = (Cosigner.generate(f"witness.test/w{i}") for i in range(3))
    checkpoint = parse_note(note)[0]
    cosigned = tmp_path / "cosigned.txt"
    cosigned.write_text(add_signatures(note, [w1.cosign(checkpoint), w2.cosign(checkpoint)]))
    (tmp_path / "w3.pub").write_text(w3.verifier_key() + "\n")
    base = ["verify", str(dump), "--key", signer.verifier_key()]
    witnesses = ["--witness", w1.verifier_key(), "--witness", w2.verifier_key()]
    witnesses += ["--witness", f"@{tmp_path / 'w3.pub'}"]

    ok = runner.invoke(app, [*base, *witnesses, "--quorum", "2", "--checkpoint", str(cosigned)])
    assert ok.exit_code == 0, ok.output
    assert "witnessed size 12" in ok.output

    short = runner.invoke(app, [*base, *witnesses, "--quorum", "3", "--checkpoint", str(cosigned)])
    assert short.exit_code == 1
    assert "no checkpoint with 3 valid witness cosignatures" in short.output

    # Without the cosigned checkpoint the export's own notes carry no cosignature.
    bare = runner.invoke(app, [*base, *witnesses, "--quorum", "1"])
    assert bare.exit_code == 1

    # A quorum above the witnesses given is a mistake, not a pass.
    wrong = runner.invoke(app, [*base, "--witness", w1.verifier_key(), "--quorum", "2"])
    assert wrong.exit_code == 2


def test_a_cosigned_checkpoint_of_another_history_fails(
    tmp_path: Path, signer: audit.CheckpointSigner
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    asyncio.run(grow(url, signer, 8))
    dump = tmp_path / "audit.jsonl"
    runner.invoke(app, ["export", "--database-url", url, "--no-record", "--out", str(dump)])
    w1 = Cosigner.generate("witness.test/w1")
    fork = signer.sign(8, bytes(32))  # the operator's key, another root
    cosigned = tmp_path / "fork.txt"
    cosigned.write_text(add_signatures(fork, [w1.cosign(parse_note(fork)[0])]))
    result = runner.invoke(
        app,
        [
            "verify",
            str(dump),
            "--key",
            signer.verifier_key(),
            "--witness",
            w1.verifier_key(),
            "--checkpoint",
            str(cosigned),
        ],
    )
    assert result.exit_code == 1
