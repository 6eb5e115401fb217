"""A C2SP tlog-witness: verify a log's new checkpoint against the last one seen, cosign.

https://c2sp.org/tlog-witness. A request to ``POST /add-checkpoint`` carries::

    old <size the client believes the witness last saw>\\n
    <consistency proof hash, base64>\\n      (zero or more)
    \\n
    <signed checkpoint note>

The witness answers 200 with its ``cosignature/v1`` line; 400 for a malformed request or
an old size above the checkpoint's; 404 for a log it does not witness; 403 when no key of
that log signed the checkpoint; 409 (body: the size it knows) when the old size is not
the one it last saw, or the same size comes with another root; 422 when the proof does
not hold. This module is the pure part and a small SQLite store: the HTTP server is the
gateway CLI's thin shell around :meth:`Witness.add_checkpoint`.

Security decision: a refused checkpoint that the log did sign (a fork, a rollback, a
failed proof) is kept as evidence with the request's bytes: a split view then stays
provable after the fact, whoever tries to deny it.
"""

from __future__ import annotations

import base64
import binascii
import logging
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from audit import merkle
from audit.checkpoint import Checkpoint, VerifierKey, parse_note
from audit.cosignature import Cosigner, note_body, signed_by
from audit.errors import ProofError

logger = logging.getLogger("audit.witness")

MAX_REQUEST_BYTES = 64 * 1024
MAX_PROOF_HASHES = 63


@dataclass(frozen=True, slots=True)
class WitnessAnswer:
    """What the HTTP layer sends back: a status, a body and its media type."""

    status: int
    body: str
    media_type: str = "text/plain; charset=utf-8"


@dataclass(frozen=True, slots=True)
class AddCheckpoint:
    """A parsed ``add-checkpoint`` request."""

    old_size: int
    proof: tuple[bytes, ...]
    note: str


def parse_request(body: bytes) -> AddCheckpoint:
    """Parse an ``add-checkpoint`` body; raise :class:`ProofError` when malformed."""
    if len(body) > MAX_REQUEST_BYTES:
        raise ProofError("request too large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProofError("request is not UTF-8") from exc
    head, sep, note = text.partition("\n\n")
    lines = head.split("\n")
    if not sep or not lines[0].startswith("old "):
        raise ProofError("request must start with an 'old <size>' line")
    size_text = lines[0][4:]
    if not size_text.isdigit() or (size_text != "0" and size_text[0] == "0"):
        raise ProofError("old size is malformed")
    if len(lines) - 1 > MAX_PROOF_HASHES:
        raise ProofError("consistency proof is too long")
    proof: list[bytes] = []
    for line in lines[1:]:
        try:
            h = base64.b64decode(line, validate=True)
        except binascii.Error as exc:
            raise ProofError("proof line is not base64") from exc
        if len(h) != merkle.HASH_SIZE:
            raise ProofError("proof line is not a SHA-256 hash")
        proof.append(h)
    return AddCheckpoint(int(size_text), tuple(proof), note)


def format_request(old_size: int, proof: Sequence[bytes], note: str) -> bytes:
    """The body of an ``add-checkpoint`` request (what a log sends)."""
    lines = [f"old {old_size}", *(base64.b64encode(h).decode() for h in proof)]
    return ("\n".join(lines) + "\n\n" + note).encode()


class WitnessStore:
    """The witness's own SQLite file: the latest checkpoint per log, and the evidence."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS checkpoints (origin TEXT PRIMARY KEY,"
                " size INTEGER NOT NULL, root BLOB NOT NULL, note TEXT NOT NULL,"
                " updated_at TEXT NOT NULL)"
            )
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS evidence (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                " origin TEXT NOT NULL, received_at TEXT NOT NULL, reason TEXT NOT NULL,"
                " known_size INTEGER NOT NULL, known_note TEXT, request BLOB NOT NULL)"
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def latest(self, origin: str) -> tuple[int, bytes, str] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT size, root, note FROM checkpoints WHERE origin = ?", (origin,)
            ).fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]), str(row[2]))

    def advance(self, origin: str, old_size: int, checkpoint: Checkpoint, note: str) -> bool:
        """Store ``checkpoint`` if the latest is still of ``old_size`` (compare and swap)."""
        now = datetime.now(UTC).isoformat()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT size FROM checkpoints WHERE origin = ?", (origin,)
                ).fetchone()
                if (0 if row is None else int(row[0])) != old_size:
                    self._db.execute("ROLLBACK")
                    return False
                self._db.execute(
                    "INSERT INTO checkpoints (origin, size, root, note, updated_at)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (origin) DO UPDATE SET"
                    " size = excluded.size, root = excluded.root, note = excluded.note,"
                    " updated_at = excluded.updated_at",
                    (origin, checkpoint.size, checkpoint.root_hash, note, now),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return True

    def keep_evidence(self, origin: str, reason: str, request: bytes) -> None:
        known = self.latest(origin)
        with self._lock:
            self._db.execute(
                "INSERT INTO evidence (origin, received_at, reason, known_size, known_note,"
                " request) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    origin,
                    datetime.now(UTC).isoformat(),
                    reason,
                    0 if known is None else known[0],
                    None if known is None else known[2],
                    request,
                ),
            )

    def evidence(self) -> list[dict[str, object]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT origin, received_at, reason, known_size, known_note, request"
                " FROM evidence ORDER BY id"
            ).fetchall()
        keys = ("origin", "received_at", "reason", "known_size", "known_note", "request")
        return [dict(zip(keys, row, strict=True)) for row in rows]


class Witness:
    """Checks and cosigns the checkpoints of the logs it was told to witness."""

    def __init__(self, cosigner: Cosigner, logs: Sequence[VerifierKey], store: WitnessStore):
        self.cosigner = cosigner
        self.store = store
        self._logs: dict[str, list[VerifierKey]] = {}
        for key in logs:
            self._logs.setdefault(key.name, []).append(key)

    def add_checkpoint(self, body: bytes) -> WitnessAnswer:
        """Handle one ``add-checkpoint`` request body; never raises for bad input."""
        try:
            request = parse_request(body)
            checkpoint, _ = parse_note(request.note)
        except ProofError as exc:
            return WitnessAnswer(400, f"{exc}\n")
        keys = self._logs.get(checkpoint.origin)
        if keys is None:
            return WitnessAnswer(404, "unknown log\n")
        if not any(signed_by(request.note, key) for key in keys):
            return WitnessAnswer(403, "no known key of this log signed the checkpoint\n")
        if request.old_size > checkpoint.size:
            return WitnessAnswer(400, "old size is larger than the checkpoint size\n")
        known = self.store.latest(checkpoint.origin)
        known_size, known_root = (0, b"") if known is None else (known[0], known[1])
        if request.old_size != known_size:
            if checkpoint.size < known_size:
                self._refuse(
                    checkpoint, "rollback or stale: a smaller tree than the one seen", body
                )
            return _conflict(known_size)
        if checkpoint.size == known_size and known is not None:
            if request.proof:
                return WitnessAnswer(422, "a proof between equal sizes must be empty\n")
            if checkpoint.root_hash != known_root:
                self._refuse(checkpoint, "fork: the same size with another root", body)
                return _conflict(known_size)
        elif known_size > 0:
            try:
                merkle.verify_consistency(
                    known_size, checkpoint.size, request.proof, known_root, checkpoint.root_hash
                )
            except ProofError:
                self._refuse(checkpoint, "fork: not consistent with the tree seen", body)
                return WitnessAnswer(422, "the consistency proof does not hold\n")
        elif request.proof:
            return WitnessAnswer(422, "a proof from the empty tree must be empty\n")
        if not self.store.advance(checkpoint.origin, known_size, checkpoint, request.note):
            latest = self.store.latest(checkpoint.origin)
            return _conflict(0 if latest is None else latest[0])
        return WitnessAnswer(200, self.cosigner.cosign(note_body(request.note)))

    def _refuse(self, checkpoint: Checkpoint, reason: str, body: bytes) -> None:
        logger.warning(
            "witness: refused a signed checkpoint of %s at size %d (%s); kept as evidence",
            checkpoint.origin,
            checkpoint.size,
            reason,
        )
        self.store.keep_evidence(checkpoint.origin, reason, body)


def _conflict(known_size: int) -> WitnessAnswer:
    return WitnessAnswer(409, f"{known_size}\n", "text/x.tlog.size")
