"""C2SP tlog-cosignature and signed-note: cosigning, parsing many signatures, quorums."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import CheckpointSigner, ProofError, VerifierKey
from audit.checkpoint import parse_note
from audit.cosignature import (
    Cosigner,
    WitnessKey,
    add_signatures,
    cosignatures,
    cosigned_message,
    note_body,
    signed_by,
    verify_cosigned,
)
from audit.witness import parse_request

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


# The examples of C2SP tlog-cosignature and tlog-witness.
SPEC_CHECKPOINT = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
    "\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5"
    "/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlr"
    "DJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)


def test_spec_cosigned_checkpoint_parses_with_its_timestamp() -> None:
    checkpoint, signatures = parse_note(SPEC_CHECKPOINT)
    assert (checkpoint.origin, checkpoint.size) == ("example.com/behind-the-sofa", 20852163)
    name, blob = signatures[1]
    assert name == "witness.example.com/w1" and len(blob) == 4 + 8 + 64
    assert int.from_bytes(blob[4:12], "big") == 1679315147  # the spec's "time" line
    assert cosigned_message(checkpoint.body(), 1679315147) == (
        b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
        b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )
    # Unknown keys are ignored: no witness we trust signed it.
    assert (
        cosignatures(SPEC_CHECKPOINT, [WitnessKey.parse(Cosigner.generate("w").verifier_key())])
        == {}
    )


def test_spec_add_checkpoint_request_parses() -> None:
    body = (
        "old 20852014\n"
        "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n"
        "jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n"
        "5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n"
        "/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n"
        "\n" + SPEC_CHECKPOINT
    )
    request = parse_request(body.encode())
    assert request.old_size == 20852014 and len(request.proof) == 4
    assert parse_note(request.note)[0].size == 20852163


def test_extension_lines_are_cosigned() -> None:
    witness = Cosigner.generate("w1")
    signer = CheckpointSigner("log.example/x", Ed25519PrivateKey.generate())
    note = signer.sign(3, ROOT)
    body, _, sigs = note.partition("\n\n")
    extended = f"{body}\nextension line\n\n{sigs}"
    line = witness.cosign(note_body(extended))
    key = WitnessKey.parse(witness.verifier_key())
    assert cosignatures(add_signatures(extended, [line]), [key])
    assert not cosignatures(add_signatures(note, [line]), [key])
