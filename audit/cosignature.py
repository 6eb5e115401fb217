"""C2SP tlog-cosignature (``cosignature/v1``) witness keys, cosignatures and quorums.

A witness cosigns a checkpoint it has checked to be consistent with every earlier one it
saw of the same log (https://c2sp.org/tlog-cosignature). Its note verifier key is
``<name>+<hex key id>+<base64(0x04 || Ed25519 public key)>``, the key id being the first
four bytes of ``SHA-256(name || "\\n" || 0x04 || public key)``; its signature line is

    \u2014 <name> <base64(key id || timestamp, 8 bytes big-endian || Ed25519 signature)>

over the message ``"cosignature/v1\\ntime <timestamp>\\n" || checkpoint body``. A
checkpoint thus carries the log's own signature and any number of cosignatures; a
verifier that trusts ``k`` of ``n`` witnesses accepts it with :func:`verify_cosigned`.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from audit.checkpoint import (
    EM_DASH,
    Checkpoint,
    VerifierKey,
    check_key_name,
    key_id_of,
    parse_key_text,
    parse_note,
    verify_checkpoint,
)
from audit.errors import ProofError

COSIGNATURE_ALG = 0x04
COSIGNATURE_HEADER = "cosignature/v1\n"
SIGNATURE_SIZE = 4 + 8 + 64
MAX_SIGNATURES = 100
"""Signature lines a note may carry before it is refused (C2SP signed-note allows a cap)."""


def _key_id(name: str, public_raw: bytes) -> bytes:
    return key_id_of(name, COSIGNATURE_ALG, public_raw)


def cosigned_message(body: str, timestamp: int) -> bytes:
    """The bytes a ``cosignature/v1`` signature covers for a checkpoint ``body``."""
    return f"{COSIGNATURE_HEADER}time {timestamp}\n{body}".encode()


@dataclass(frozen=True, slots=True)
class WitnessKey:
    """A witness's parsed ``cosignature/v1`` verifier key."""

    name: str
    key_id: bytes
    public_key: Ed25519PublicKey

    @classmethod
    def parse(cls, text: str) -> WitnessKey:
        """Parse ``<name>+<hex key id>+<base64(0x04 || public key)>``."""
        return cls(*parse_key_text(text, COSIGNATURE_ALG, "witness key", "a cosignature/v1 key"))

    @property
    def verifier_id(self) -> str:
        """``<name>+<hex key id>``: what tells two witness keys apart."""
        return f"{self.name}+{self.key_id.hex()}"

    def verify(self, body: str, name: str, blob: bytes) -> int | None:
        """The timestamp of ``blob`` if it is this witness's cosignature of ``body``."""
        if name != self.name or len(blob) != SIGNATURE_SIZE or blob[:4] != self.key_id:
            return None
        timestamp = int.from_bytes(blob[4:12], "big")
        try:
            self.public_key.verify(blob[12:], cosigned_message(body, timestamp))
        except InvalidSignature:
            return None
        return timestamp


class Cosigner:
    """A witness's signing key: cosigns checkpoint bodies it has checked."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        check_key_name(name)
        self.name = name
        self._key = private_key
        self._public_raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = _key_id(name, self._public_raw)

    def __repr__(self) -> str:
        return f"Cosigner(name={self.name!r}, key_id={self.key_id.hex()}, key=***)"

    @classmethod
    def generate(cls, name: str) -> Cosigner:
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_secret(cls, text: str) -> Cosigner:
        """Load the form :meth:`secret` writes: ``PRIVATE+KEY+<name>+<key id>+<seed>``."""
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise ProofError("not a witness signing key")
        try:
            raw = base64.b64decode(parts[4], validate=True)
        except binascii.Error as exc:
            raise ProofError("witness signing key is not base64") from exc
        if len(raw) != 33 or raw[0] != COSIGNATURE_ALG:
            raise ProofError("not a cosignature/v1 signing key")
        signer = cls(parts[2], Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if signer.key_id.hex() != parts[3]:
            raise ProofError("witness signing key id does not match its key")
        return signer

    def secret(self) -> str:
        """The signing key as text (keep it private): the C2SP signer-key layout."""
        seed = self._key.private_bytes_raw()
        b64 = base64.b64encode(bytes([COSIGNATURE_ALG]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{b64}"

    def verifier_key(self) -> str:
        """The witness's public verifier key, for logs and verifiers to configure."""
        b64 = base64.b64encode(bytes([COSIGNATURE_ALG]) + self._public_raw).decode()
        return f"{self.name}+{self.key_id.hex()}+{b64}"

    def cosign(self, checkpoint: Checkpoint | str, timestamp: int | None = None) -> str:
        """The signature line (ending in a newline) cosigning ``checkpoint`` now.

        ``checkpoint`` is a parsed checkpoint or the whole note body (with any extension
        lines, which tlog-cosignature includes in the signed message).
        """
        when = int(time.time()) if timestamp is None else timestamp
        body = checkpoint if isinstance(checkpoint, str) else checkpoint.body()
        sig = self._key.sign(cosigned_message(body, when))
        blob = self.key_id + when.to_bytes(8, "big") + sig
        return f"{EM_DASH} {self.name} {base64.b64encode(blob).decode()}\n"


def note_body(note: str) -> str:
    """The signed text of a note: everything before the blank line, with its newline."""
    return note.partition("\n\n")[0] + "\n"


def add_signatures(note: str, lines: Iterable[str]) -> str:
    """``note`` with the signature ``lines`` appended, each once."""
    present = set(note.partition("\n\n")[2].splitlines())
    extra = [line.rstrip("\n") for line in lines if line.rstrip("\n") not in present]
    extra = list(dict.fromkeys(extra))
    return note + "".join(f"{line}\n" for line in extra)


def signature_lines(note: str) -> list[tuple[str, bytes]]:
    """The ``(key name, signature blob)`` of every signature line of any signed note.

    The text need not be a checkpoint. Lines that are not well-formed signatures make the
    whole note malformed, as C2SP signed-note says.
    """
    body, sep, sigs = note.partition("\n\n")
    if not sep or not sigs.endswith("\n") or not body:
        raise ProofError("not a signed note")
    found: list[tuple[str, bytes]] = []
    for line in sigs[:-1].split("\n"):
        prefix = EM_DASH + " "
        parts = line[len(prefix) :].split(" ") if line.startswith(prefix) else []
        if len(parts) != 2 or not parts[0]:
            raise ProofError("malformed signature line")
        try:
            found.append((parts[0], base64.b64decode(parts[1], validate=True)))
        except binascii.Error as exc:
            raise ProofError("signature is not base64") from exc
    if len(found) > MAX_SIGNATURES:
        raise ProofError("the note carries too many signatures")
    return found


def signed_by(note: str, key: VerifierKey) -> bool:
    """Whether any line of ``note`` (any signed note) is a valid Ed25519 signature by ``key``."""
    body = note_body(note).encode()
    for name, blob in signature_lines(note):
        if name == key.name and len(blob) == 4 + 64 and blob[:4] == key.key_id:
            try:
                key.public_key.verify(blob[4:], body)
            except InvalidSignature:
                continue
            return True
    return False


def cosignatures(note: str, witnesses: Sequence[WitnessKey]) -> dict[str, int]:
    """Per witness name, the timestamp of its valid cosignature on ``note``.

    Unknown signature lines are ignored (C2SP signed-note); a line that claims a known
    witness but does not verify is ignored too, so it can never count towards a quorum.
    """
    parse_note(note)
    signatures = signature_lines(note)
    body = note_body(note)
    found: dict[str, int] = {}
    for key in witnesses:
        for name, blob in signatures:
            timestamp = key.verify(body, name, blob)
            if timestamp is not None:
                found[key.verifier_id] = timestamp
                break
    return found


def verify_cosigned(
    note: str,
    log_key: str | VerifierKey,
    witnesses: Sequence[str | WitnessKey] = (),
    quorum: int = 0,
) -> Checkpoint:
    """Verify the log's signature and at least ``quorum`` distinct witness cosignatures.

    Security decision: the quorum counts distinct witness keys, so one witness signing
    twice, or two lines naming one key, count once; a quorum larger than the witnesses
    given is refused as a misconfiguration rather than silently never met.
    """
    keys = [k if isinstance(k, WitnessKey) else WitnessKey.parse(k) for k in witnesses]
    if quorum < 0 or quorum > len({k.verifier_id for k in keys}):
        raise ProofError("the quorum must be between 0 and the number of witness keys")
    checkpoint = verify_checkpoint(note, log_key)
    found = cosignatures(note, keys)
    if len(found) < quorum:
        raise ProofError(
            f"the checkpoint has {len(found)} valid witness cosignatures, {quorum} required"
        )
    return checkpoint
