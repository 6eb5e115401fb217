"""C2SP tlog-cosignature and signed-note: cosigning, parsing many signatures, quorums."""

from __future__ import annotations

import base64
import hashlib

import pytest

from audit import CheckpointSigner, ProofError, VerifierKey
from audit.checkpoint import parse_note
from audit.cosignature import (
    Cosigner,
    WitnessKey,
    add_signatures,
    cosignatures,
    cosigned_message,
    signed_by,
    verify_cosigned,
)

ROOT = hashlib.sha256(b"root").digest()

# The signed-note example of golang.org/x/mod/sumdb/note (its documentation and tests).
NEUMANN_KEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
NEUMANN_NOTE = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
    "\n"
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKv"
    "qfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_LINE = (
    "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oO"
    "TGwnWLox33WWd1RvMc+QQ=\n"
)


def test_signed_note_known_answer() -> None:
    assert signed_by(NEUMANN_NOTE, VerifierKey.parse(NEUMANN_KEY))


def test_signed_note_with_an_unknown_second_signer_still_verifies() -> None:
    assert signed_by(NEUMANN_NOTE + ENOCH_LINE, VerifierKey.parse(NEUMANN_KEY))
    assert not signed_by(
        NEUMANN_NOTE.replace("problem,", "problem;"), VerifierKey.parse(NEUMANN_KEY)
    )


def test_cosignature_layout_follows_c2sp(signer: CheckpointSigner) -> None:
    witness = Cosigner.generate("witness.example/w1")
    name, key_id, key_b64 = witness.verifier_key().split("+", 2)
    raw = base64.b64decode(key_b64)
    assert raw[0] == 0x04 and len(raw) == 33
    assert bytes.fromhex(key_id) == hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    checkpoint = parse_note(signer.sign(5, ROOT))[0]
    line = witness.cosign(checkpoint, timestamp=1_679_315_147)
    assert line.startswith(f"\u2014 {name} ")
    blob = base64.b64decode(line.split(" ")[2])
    assert blob[:4].hex() == key_id and int.from_bytes(blob[4:12], "big") == 1_679_315_147
    message = cosigned_message(checkpoint.body(), 1_679_315_147)
    assert message.startswith(b"cosignature/v1\ntime 1679315147\nsatugate.test/audit\n5\n")
    WitnessKey.parse(witness.verifier_key()).public_key.verify(blob[12:], message)


def test_secret_round_trips_and_prints_no_key() -> None:
    for _ in range(50):  # seeds whose base64 holds '+' included
        witness = Cosigner.generate("w1")
        again = Cosigner.from_secret(witness.secret())
        assert again.verifier_key() == witness.verifier_key()
        assert witness.secret() not in repr(witness)


def _cosigned(signer: CheckpointSigner, *witnesses: Cosigner) -> str:
    note = signer.sign(5, ROOT)
    checkpoint = parse_note(note)[0]
    return add_signatures(note, [w.cosign(checkpoint) for w in witnesses])


def test_quorum_counts_distinct_valid_witnesses(signer: CheckpointSigner) -> None:
    a, b, c = (Cosigner.generate(f"w{i}") for i in range(3))
    keys = [a.verifier_key(), b.verifier_key(), c.verifier_key()]
    note = _cosigned(signer, a, b)
    assert verify_cosigned(note, signer.verifier_key(), keys, 2).size == 5
    with pytest.raises(ProofError, match="2 valid witness cosignatures, 3 required"):
        verify_cosigned(note, signer.verifier_key(), keys, 3)
    doubled = add_signatures(note, [a.cosign(parse_note(note)[0], timestamp=1)])
    with pytest.raises(ProofError):
        verify_cosigned(doubled, signer.verifier_key(), keys[:1], 2)
    assert len(cosignatures(doubled, [WitnessKey.parse(k) for k in keys])) == 2


def test_forged_or_foreign_cosignatures_do_not_count(signer: CheckpointSigner) -> None:
    a = Cosigner.generate("w0")
    impostor = Cosigner.generate("w0")  # same name, other key
    note = _cosigned(signer, impostor)
    with pytest.raises(ProofError):
        verify_cosigned(note, signer.verifier_key(), [a.verifier_key()], 1)
    other_log = CheckpointSigner("other.example/log", signer._key)
    foreign = parse_note(other_log.sign(5, ROOT))[0]
    moved = add_signatures(signer.sign(5, ROOT), [a.cosign(foreign)])
    with pytest.raises(ProofError):
        verify_cosigned(moved, signer.verifier_key(), [a.verifier_key()], 1)


def test_unknown_signature_lines_are_ignored_and_quorum_is_checked(
    signer: CheckpointSigner,
) -> None:
    a = Cosigner.generate("w0")
    note = _cosigned(signer, a) + ENOCH_LINE
    assert verify_cosigned(note, signer.verifier_key(), [a.verifier_key()], 1).size == 5
    with pytest.raises(ProofError, match="quorum"):
        verify_cosigned(note, signer.verifier_key(), [a.verifier_key()], 2)
    with pytest.raises(ProofError):
        verify_cosigned(
            note.replace("\n5\n", "\n6\n"), signer.verifier_key(), [a.verifier_key()], 1
        )
