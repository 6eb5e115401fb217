"""C2SP tlog-checkpoint signed notes with Ed25519 (https://c2sp.org/tlog-checkpoint).

A checkpoint commits to the whole log: its origin, its size and its root hash. It travels
as a C2SP signed note::

    <origin>\\n
    <tree size, decimal>\\n
    <root hash, base64>\\n
    \\n
    \u2014 <key name> <base64(key id || Ed25519 signature)>\\n

The key id is the first four bytes of ``SHA-256(name || "\\n" || 0x01 || public key)`` and
the verifier key is ``<name>+<hex key id>+<base64(0x01 || public key)>``, as the C2SP
signed-note specification defines them, so that existing note verifiers accept ours.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from audit.errors import ProofError
from audit.merkle import HASH_SIZE

ED25519_ALG = 0x01
EM_DASH = "\u2014"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tree head: the log ``origin`` had ``size`` leaves with root ``root_hash``."""

    origin: str
    size: int
    root_hash: bytes

    def body(self) -> str:
        """The signed text of the note (three lines, each ending in a newline)."""
        root = base64.b64encode(self.root_hash).decode()
        return f"{self.origin}\n{self.size}\n{root}\n"


@dataclass(frozen=True, slots=True)
class VerifierKey:
    """A parsed C2SP note verifier key for Ed25519."""

    name: str
    key_id: bytes
    public_key: Ed25519PublicKey

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        """Parse ``<name>+<hex key id>+<base64(0x01 || public key)>``."""
        return cls(*parse_key_text(text, ED25519_ALG, "verifier key", "an Ed25519 note key"))


def parse_key_text(
    text: str, alg: int, what: str, kind: str
) -> tuple[str, bytes, Ed25519PublicKey]:
    """``<name>+<hex key id>+<base64(alg || public key)>``, checked: the name, the key id
    derived from name and key, and the algorithm byte ``alg``. ``what`` and ``kind``
    name the key in the errors (a note verifier key, a witness's cosignature key)."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise ProofError(f"{what} must be <name>+<key id>+<key>")
    name, hex_id, b64 = parts
    check_key_name(name)
    try:
        key_id = bytes.fromhex(hex_id)
        raw = base64.b64decode(b64, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise ProofError(f"{what} is not well formed") from exc
    if len(key_id) != 4 or len(raw) != 33 or raw[0] != alg:
        raise ProofError(f"{what} is not {kind}")
    if key_id != key_id_of(name, alg, raw[1:]):
        raise ProofError(f"{what} id does not match its key")
    return name, key_id, Ed25519PublicKey.from_public_bytes(raw[1:])


def check_key_name(name: str) -> None:
    if not name or "+" in name or any(c.isspace() for c in name):
        raise ProofError("key name must be non-empty, without '+' or spaces")


def key_id_of(name: str, alg: int, public_raw: bytes) -> bytes:
    """A signed-note key id: the first 4 bytes of SHA-256(name, newline, alg, key)."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public_raw).digest()[:4]


def _key_id(name: str, public_raw: bytes) -> bytes:
    return key_id_of(name, ED25519_ALG, public_raw)


class CheckpointSigner:
    """Signs checkpoints for one log ``origin`` with an Ed25519 key.

    The key name in the note is the origin, as is usual for transparency logs.
    """

    def __init__(self, origin: str, private_key: Ed25519PrivateKey) -> None:
        check_key_name(origin)
        self.origin = origin
        self._key = private_key
        self._public_raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = _key_id(origin, self._public_raw)

    def __repr__(self) -> str:
        return f"CheckpointSigner(origin={self.origin!r}, key_id={self.key_id.hex()}, key=***)"

    def verifier_key(self) -> str:
        """The C2SP note verifier key to publish: ``<name>+<hex key id>+<base64 key>``."""
        b64 = base64.b64encode(bytes([ED25519_ALG]) + self._public_raw).decode()
        return f"{self.origin}+{self.key_id.hex()}+{b64}"

    def sign(self, size: int, root_hash: bytes) -> str:
        """The signed note for a tree of ``size`` with ``root_hash``."""
        checkpoint = Checkpoint(self.origin, size, root_hash)
        body = checkpoint.body()
        sig = self._key.sign(body.encode())
        b64 = base64.b64encode(self.key_id + sig).decode()
        return f"{body}\n{EM_DASH} {self.origin} {b64}\n"


def parse_note(note: str) -> tuple[Checkpoint, list[tuple[str, bytes]]]:
    """Split a signed note into its checkpoint and its ``(name, key id || signature)`` lines.

    Does not check any signature: use :func:`verify_checkpoint` for that.
    """
    body, sep, sigs = note.partition("\n\n")
    if not sep or not sigs.endswith("\n"):
        raise ProofError("not a signed note")
    lines = body.split("\n")
    if len(lines) < 3:
        raise ProofError("checkpoint needs an origin, a size and a root hash")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if not origin or not size_text.isdigit() or (size_text != "0" and size_text[0] == "0"):
        raise ProofError("checkpoint origin or size is malformed")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error as exc:
        raise ProofError("checkpoint root hash is not base64") from exc
    if len(root) != HASH_SIZE:
        raise ProofError("checkpoint root hash is not a SHA-256 hash")
    signatures: list[tuple[str, bytes]] = []
    for line in sigs[:-1].split("\n"):
        prefix = EM_DASH + " "
        parts = line[len(prefix) :].split(" ") if line.startswith(prefix) else []
        if len(parts) != 2:
            raise ProofError("malformed signature line")
        try:
            signatures.append((parts[0], base64.b64decode(parts[1], validate=True)))
        except binascii.Error as exc:
            raise ProofError("signature is not base64") from exc
    return Checkpoint(origin, int(size_text), root), signatures


def verify_checkpoint(note: str, verifier_key: str | VerifierKey) -> Checkpoint:
    """Verify a signed checkpoint note with a verifier key and return its checkpoint.

    Security decision: only a signature by the given key counts; other signature lines are
    ignored, and the note's origin must equal the key name, so a note for another log
    signed by a key of the same name cannot be passed off as ours.
    """
    key = verifier_key if isinstance(verifier_key, VerifierKey) else VerifierKey.parse(verifier_key)
    checkpoint, signatures = parse_note(note)
    if checkpoint.origin != key.name:
        raise ProofError("checkpoint origin does not match the verifier key")
    body = note.partition("\n\n")[0] + "\n"
    for name, blob in signatures:
        if name == key.name and blob[:4] == key.key_id and len(blob) == 4 + 64:
            try:
                key.public_key.verify(blob[4:], body.encode())
            except InvalidSignature:
                continue
            return checkpoint
    raise ProofError("no valid signature by the verifier key")
