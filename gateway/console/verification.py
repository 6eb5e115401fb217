"""'Verify now': check the live log against its signed checkpoints, with audit's proofs.

Three checks, each reported on its own line:

1. the latest checkpoint carries a valid signature by the log's published key;
2. the tree it commits to extends the *previous* checkpoint (the one the auditor saw on
   the page, or one they saved and paste): an RFC 9162 consistency proof from the log,
   verified here against both signed roots;
3. every leaf is read back and the root recomputed (``audit.verify_export``), so that a
   row altered in the database is named even if the stored tree nodes were left alone.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

import audit

FULL_RECOMPUTE_LIMIT = 200_000
MAX_NOTE_LENGTH = 2000


@dataclass(frozen=True)
class Step:
    key: str  # a translation key naming the check
    ok: bool | None  # None: skipped
    detail: str = ""


@dataclass(frozen=True)
class Verification:
    latest_note: str
    tree_size: int
    root_hash: str
    previous_size: int | None
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.ok is not False for s in self.steps)


async def verify_now(
    log: audit.AuditLog,
    engine: AsyncEngine,
    previous_note: str | None,
    *,
    full_limit: int = FULL_RECOMPUTE_LIMIT,
) -> Verification:
    key = log.signer.verifier_key()
    latest_note = await log.checkpoint()
    steps: list[Step] = []
    try:
        latest = audit.verify_checkpoint(latest_note, key)
    except audit.ProofError as exc:
        return Verification(latest_note, 0, "", None, [Step("verify.signature", False, str(exc))])
    steps.append(Step("verify.signature", True, f"{latest.origin} / {latest.size}"))

    previous: audit.Checkpoint | None = None
    if previous_note and previous_note.strip():
        note = previous_note.replace("\r\n", "\n").strip() + "\n"
        try:
            if len(note) > MAX_NOTE_LENGTH:
                raise audit.ProofError("the saved checkpoint is too long")
            previous = audit.verify_checkpoint(note, key)
        except audit.ProofError as exc:
            steps.append(Step("verify.previous_signature", False, str(exc)))
        else:
            steps.append(Step("verify.previous_signature", True, str(previous.size)))
            steps.append(await _consistency(log, previous, latest))
    else:
        steps.append(Step("verify.consistency", None))

    if latest.size > full_limit:
        steps.append(Step("verify.recompute", None, str(latest.size)))
    else:
        lines = [line async for line in audit.export_lines(engine, tree_size=latest.size)]
        report = await asyncio.to_thread(audit.verify_export, lines, key)
        detail = str(report.leaves_checked) if report.ok else "; ".join(report.problems[:5])
        steps.append(Step("verify.recompute", report.ok, detail))
    return Verification(
        latest_note,
        latest.size,
        base64.b64encode(latest.root_hash).decode(),
        None if previous is None else previous.size,
        steps,
    )


async def _consistency(
    log: audit.AuditLog, previous: audit.Checkpoint, latest: audit.Checkpoint
) -> Step:
    if previous.size > latest.size:
        return Step("verify.consistency", False, "the log is shorter than the saved checkpoint")
    if previous.size == latest.size or previous.size == 0:
        same = previous.size == 0 or previous.root_hash == latest.root_hash
        return Step("verify.consistency", same, f"{previous.size} → {latest.size}")
    try:
        proof = await log.consistency_proof(previous.size, latest.size)
        proof.verify(previous.root_hash, latest.root_hash)
    except audit.ProofError as exc:
        return Step("verify.consistency", False, str(exc))
    return Step("verify.consistency", True, f"{previous.size} → {latest.size}")
