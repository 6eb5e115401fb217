"""Export the log, verify it offline, and catch every kind of tampering at the right place."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import audit
from audit import merkle
from tests.audit.conftest import BLIND_KEY, lookup


@pytest.fixture
async def log(engine: AsyncEngine, signer: audit.CheckpointSigner) -> AsyncIterator[audit.AuditLog]:
    """Checkpoints only where a test signs them, so that their sizes are known."""
    audit_log = audit.AuditLog(engine, signer=signer, blind_key=BLIND_KEY, checkpoint_interval=3600)
    async with audit_log:
        yield audit_log


async def fill(log: audit.AuditLog, sizes: tuple[int, ...] = (10, 20, 30)) -> list[str]:
    """Append up to each size and sign a checkpoint there; returns the notes."""
    notes = []
    for size in sizes:
        current = await log.size()
        await asyncio.gather(*(log.append(lookup(f"o{i}")) for i in range(current, size)))
        notes.append(await log.checkpoint())
    return notes


async def export(engine: AsyncEngine) -> list[str]:
    return [line async for line in audit.export_lines(engine)]


def leaf_line(lines: list[str], index: int) -> int:
    for n, line in enumerate(lines):
        entry = json.loads(line)
        if entry["type"] == "leaf" and entry["index"] == index:
            return n
    raise LookupError(index)


def edit_leaf(lines: list[str], index: int, *, fix_hash: bool) -> list[str]:
    out = list(lines)
    n = leaf_line(out, index)
    entry = json.loads(out[n])
    event = json.loads(base64.b64decode(entry["leaf"]))
    event["officer"] = "someone-else"
    forged = json.dumps(event, sort_keys=True, separators=(",", ":")).encode()
    entry["leaf"] = base64.b64encode(forged).decode()
    if fix_hash:
        entry["hash"] = base64.b64encode(merkle.leaf_hash(forged)).decode()
    out[n] = json.dumps(entry) + "\n"
    return out


async def test_export_verifies(engine: AsyncEngine, log: audit.AuditLog) -> None:
    await fill(log)
    lines = await export(engine)
    assert json.loads(lines[0])["tree_size"] == 30
    assert sum(1 for line in lines if '"checkpoint"' in line) >= 3
    seen: list[int] = []
    report = audit.verify_export(lines, log.signer.verifier_key(), on_leaf=seen.append)
    assert report.ok, report.problems
    assert (report.tree_size, report.leaves_checked, report.first_bad_index) == (30, 30, None)
    assert seen == list(range(30))
    assert report.root_hash == await log.root(30)


async def test_altered_leaf_is_named(engine: AsyncEngine, log: audit.AuditLog) -> None:
    await fill(log)
    report = audit.verify_export(
        edit_leaf(await export(engine), 17, fix_hash=False), log.signer.verifier_key()
    )
    assert not report.ok
    assert report.first_bad_index == 17
    assert report.bad_range == (10, 20)


async def test_altered_leaf_and_hash_are_bracketed_by_checkpoints(
    engine: AsyncEngine, log: audit.AuditLog
) -> None:
    await fill(log)
    report = audit.verify_export(
        edit_leaf(await export(engine), 23, fix_hash=True), log.signer.verifier_key()
    )
    assert not report.ok
    assert report.bad_range == (20, 30)
    assert report.first_bad_index is None  # the export alone cannot say which of the ten


async def test_removed_and_reordered_leaves_are_named(
    engine: AsyncEngine, log: audit.AuditLog
) -> None:
    await fill(log)
    lines = await export(engine)
    key = log.signer.verifier_key()
    removed = [line for n, line in enumerate(lines) if n != leaf_line(lines, 12)]
    assert audit.verify_export(removed, key).first_bad_index == 12
    swapped = list(lines)
    a, b = leaf_line(lines, 4), leaf_line(lines, 5)
    swapped[a], swapped[b] = swapped[b], swapped[a]
    assert audit.verify_export(swapped, key).first_bad_index == 4
    truncated = lines[: leaf_line(lines, 25)]
    report = audit.verify_export(truncated, key)
    assert not report.ok and report.first_bad_index == 25
    garbled = list(lines)
    garbled[leaf_line(lines, 3)] = '{"type": "leaf", "index": 3, "leaf": "%%%"}\n'
    assert audit.verify_export(garbled, key).first_bad_index == 3


async def test_wrong_key_fails(engine: AsyncEngine, log: audit.AuditLog) -> None:
    await fill(log, (5,))
    other = audit.CheckpointSigner(log.signer.origin, Ed25519PrivateKey.generate())
    report = audit.verify_export(await export(engine), other.verifier_key())
    assert not report.ok


async def test_consistency_with_a_saved_checkpoint(
    engine: AsyncEngine, log: audit.AuditLog
) -> None:
    saved, *_ = await fill(log)
    key = log.signer.verifier_key()
    report = audit.verify_export(await export(engine), key, earlier_checkpoint=saved)
    assert report.ok, report.problems


async def test_a_fork_is_caught_by_a_saved_checkpoint(
    tmp_path: Path, signer: audit.CheckpointSigner
) -> None:
    """Two stores signed with the same key (a restored backup, a rogue replica) diverge."""
    exports = []
    saved = ""
    for name, first_officer in (("main.db", "o0"), ("fork.db", "intruder")):
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / name}")
        await audit.install_schema(engine)
        async with audit.AuditLog(
            engine, signer=signer, blind_key=BLIND_KEY, checkpoint_interval=3600
        ) as log:
            await log.append(lookup(first_officer))
            notes = await fill(log, (10, 40))
        saved = saved or notes[0]
        exports.append(await export(engine))
        await engine.dispose()
    main, forked = exports
    assert audit.verify_export(main, signer.verifier_key(), earlier_checkpoint=saved).ok
    report = audit.verify_export(forked, signer.verifier_key(), earlier_checkpoint=saved)
    assert report.ok is False
    assert any("saved checkpoint" in p for p in report.problems)
    assert report.bad_range == (0, 10)


async def test_a_shorter_log_than_the_saved_checkpoint_fails(
    engine: AsyncEngine, log: audit.AuditLog
) -> None:
    await fill(log, (10,))
    lines = await export(engine)
    await fill(log, (20,))
    later = await log.checkpoint()
    report = audit.verify_export(lines, log.signer.verifier_key(), earlier_checkpoint=later)
    assert not report.ok
    assert any("shorter" in p for p in report.problems)


async def test_bisection_with_live_consistency_proofs_names_the_leaf(log: audit.AuditLog) -> None:
    await fill(log, (37,))
    checkpoint = audit.verify_checkpoint(await log.checkpoint(), log.signer.verifier_key())
    hashes = [merkle.leaf_hash(await log.leaf(i)) for i in range(37)]

    async def consistency(first: int, second: int) -> list[bytes]:
        return list((await log.consistency_proof(first, second)).proof)

    assert await audit.locate_first_bad(hashes, checkpoint, consistency) is None
    for bad in (0, 1, 16, 31, 36):
        tampered = list(hashes)
        tampered[bad] = merkle.leaf_hash(b"forged")
        assert await audit.locate_first_bad(tampered, checkpoint, consistency) == bad
