"""C2SP signed checkpoints: format, key ids, and verification with cryptography alone."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from audit import CheckpointSigner, ProofError, VerifierKey, verify_checkpoint
from audit.checkpoint import parse_note

ROOT = hashlib.sha256(b"root").digest()


def test_note_layout_follows_c2sp(signer: CheckpointSigner) -> None:
    note = signer.sign(42, ROOT)
    body, _, signature = note.partition("\n\n")
    assert body.split("\n") == [signer.origin, "42", base64.b64encode(ROOT).decode()]
    assert signature.startswith(f"\u2014 {signer.origin} ")
    assert note.endswith("\n")


def test_signature_verifies_with_the_published_key_and_plain_cryptography(
    signer: CheckpointSigner,
) -> None:
    """A third party needs only the verifier key text and any Ed25519 implementation."""
    note = signer.sign(7, ROOT)
    name, key_id_hex, key_b64 = signer.verifier_key().split("+", 2)
    raw = base64.b64decode(key_b64)
    assert name == signer.origin and raw[0] == 0x01 and len(raw) == 33
    assert bytes.fromhex(key_id_hex) == hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    body = note.partition("\n\n")[0] + "\n"
    blob = base64.b64decode(note.rstrip("\n").rsplit(" ", 1)[1])
    assert blob[:4].hex() == key_id_hex
    Ed25519PublicKey.from_public_bytes(raw[1:]).verify(blob[4:], body.encode())


def test_verify_checkpoint_returns_the_tree_head(signer: CheckpointSigner) -> None:
    checkpoint = verify_checkpoint(signer.sign(9, ROOT), signer.verifier_key())
    assert (checkpoint.origin, checkpoint.size, checkpoint.root_hash) == (signer.origin, 9, ROOT)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda n: n.replace("\n9\n", "\n10\n", 1),
        lambda n: n.replace(base64.b64encode(ROOT).decode(), base64.b64encode(bytes(32)).decode()),
        lambda n: n.replace("satugate.test/audit\n", "other.example/audit\n", 1),
        lambda n: n.partition("\n\n")[0] + "\n\n",
        lambda n: n[:-10] + "AAAAAAAAA\n",
    ],
    ids=["size", "root", "origin", "no-signature", "signature-bytes"],
)
def test_tampered_notes_are_refused(signer: CheckpointSigner, tamper: object) -> None:
    note = signer.sign(9, ROOT)
    with pytest.raises(ProofError):
        verify_checkpoint(tamper(note), signer.verifier_key())  # type: ignore[operator]


def test_other_key_with_the_same_name_is_refused(signer: CheckpointSigner) -> None:
    impostor = CheckpointSigner(signer.origin, Ed25519PrivateKey.generate())
    with pytest.raises(ProofError):
        verify_checkpoint(impostor.sign(9, ROOT), signer.verifier_key())


def test_verifier_key_parsing_rejects_a_wrong_key_id(signer: CheckpointSigner) -> None:
    name, _, key = signer.verifier_key().split("+", 2)
    with pytest.raises(ProofError):
        VerifierKey.parse(f"{name}+00000000+{key}")
    assert VerifierKey.parse(signer.verifier_key()).name == name


def test_extra_signature_lines_are_ignored_but_ours_must_be_there(signer: CheckpointSigner) -> None:
    other = CheckpointSigner("witness.example", Ed25519PrivateKey.generate())
    note = signer.sign(3, ROOT)
    cosigned = note + other.sign(3, ROOT).partition("\n\n")[2]
    assert len(parse_note(cosigned)[1]) == 2
    assert verify_checkpoint(cosigned, signer.verifier_key()).size == 3


def test_signer_does_not_print_its_key(signer: CheckpointSigner) -> None:
    assert "***" in repr(signer)
