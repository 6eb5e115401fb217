"""C2SP tlog-witness against a real ``satugate witness`` process; forks fail loudly.

The log side is played here with the audit part's own tree and signer: an honest log,
then a log that forks (same size, other root) and one that rolls back (a smaller tree
after a larger one). Both forks are refused with 409 and kept as evidence.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import CheckpointSigner, ProofError
from audit.checkpoint import parse_note
from audit.cosignature import Cosigner, add_signatures, verify_cosigned
from audit.merkle import MemoryTree
from audit.witness import format_request
from tests.witness.procs import WitnessProcess, witness_process

ORIGIN = "satugate.test/audit"


def tree(n: int, tag: str = "") -> MemoryTree:
    t = MemoryTree()
    for i in range(n):
        t.append(f"event {i}{tag}".encode())
    return t


@pytest.fixture(scope="module")
def signer() -> CheckpointSigner:
    return CheckpointSigner(ORIGIN, Ed25519PrivateKey.generate())


@pytest.fixture(scope="module")
def witness(
    tmp_path_factory: pytest.TempPathFactory, signer: CheckpointSigner
) -> Iterator[WitnessProcess]:
    with witness_process(tmp_path_factory.mktemp("witness"), [signer.verifier_key()]) as w:
        yield w


def add(w: WitnessProcess, old: int, proof: list[bytes], note: str) -> httpx.Response:
    return httpx.post(
        w.url + "/add-checkpoint", content=format_request(old, proof, note), timeout=10
    )


def test_honest_log_is_cosigned_then_forks_are_refused(
    witness: WitnessProcess, signer: CheckpointSigner
) -> None:
    honest = tree(10)
    first = signer.sign(4, honest.root(4))
    answer = add(witness, 0, [], first)
    assert answer.status_code == 200, answer.text
    cosigned = add_signatures(first, [answer.text])
    assert verify_cosigned(cosigned, signer.verifier_key(), [witness.cosigner.verifier_key()], 1)

    note = signer.sign(10, honest.root(10))
    stale = add(witness, 0, [], note)
    assert stale.status_code == 409
    assert stale.headers["content-type"].startswith("text/x.tlog.size") and stale.text == "4\n"
    answer = add(witness, 4, honest.consistency_proof(4, 10), note)
    assert answer.status_code == 200, answer.text

    # Same size, another root: the split view another reader would be shown.
    forked = tree(10, tag="'")
    fork_note = signer.sign(10, forked.root(10))
    refused = add(witness, 10, [], fork_note)
    assert (refused.status_code, refused.text) == (409, "10\n")
    # The fork extended, with a proof from the forked tree: the proof cannot hold.
    fork_grown = tree(12, tag="'")
    refused = add(
        witness, 10, fork_grown.consistency_proof(10, 12), signer.sign(12, fork_grown.root(12))
    )
    assert refused.status_code == 422

    # A smaller tree after the larger one (history rewritten from size 6 on).
    rewritten = tree(6, tag="!")
    for old in (0, 4, 6):
        refused = add(witness, old, [], signer.sign(6, rewritten.root(6)))
        assert (refused.status_code, refused.text) == (409, "10\n"), old
    assert add(witness, 10, [], signer.sign(6, rewritten.root(6))).status_code == 400

    # The honest log goes on as before.
    more = tree(15)
    answer = add(witness, 10, more.consistency_proof(10, 15), signer.sign(15, more.root(15)))
    assert answer.status_code == 200

    with sqlite3.connect(witness.db) as db:
        reasons = [r[0] for r in db.execute("SELECT reason FROM evidence ORDER BY id")]
    assert any(r.startswith("fork: the same size") for r in reasons)
    assert any(r.startswith("fork: not consistent") for r in reasons)
    assert any(r.startswith("rollback") for r in reasons)
    out = (witness.db.parent / "witness.out").read_text()
    assert "refused a signed checkpoint" in out


def test_unknown_log_bad_signature_and_malformed_requests(
    witness: WitnessProcess, signer: CheckpointSigner
) -> None:
    other = CheckpointSigner("other.example/log", Ed25519PrivateKey.generate())
    assert add(witness, 0, [], other.sign(1, tree(1).root())).status_code == 404
    impostor = CheckpointSigner(ORIGIN, Ed25519PrivateKey.generate())
    assert add(witness, 0, [], impostor.sign(1, tree(1).root())).status_code == 403
    assert httpx.post(witness.url + "/add-checkpoint", content=b"new 3\n\nx").status_code == 400
    assert (
        httpx.post(witness.url + "/add-checkpoint", content=b"old 1\nnot base64!\n\n").status_code
        == 400
    )
    assert httpx.post(witness.url + "/add-checkpoint", content=b"x" * 70_000).status_code == 413


def test_cosignature_is_fresh_and_by_the_witness_key(
    tmp_path: Path, signer: CheckpointSigner
) -> None:
    with witness_process(tmp_path, [signer.verifier_key()], name="witness.test/w2") as w:
        t = tree(3)
        note = signer.sign(3, t.root())
        line = add(w, 0, [], note).text
        other = Cosigner.generate("witness.test/w2")
        with pytest.raises(ProofError):
            verify_cosigned(
                add_signatures(note, [line]), signer.verifier_key(), [other.verifier_key()], 1
            )
        checkpoint = parse_note(note)[0]
        assert checkpoint.size == 3
        # The state survives a restart: the witness's own SQLite file.
    with witness_process(tmp_path, [signer.verifier_key()], name="witness.test/w2") as w:
        assert add(w, 0, [], note).text == "3\n"
        assert add(w, 3, [], note).status_code == 200
