"""A log read through an engine of its own, from another thread's event loop: the
witness collector's view of the log."""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

import audit
from audit.checkpoint import parse_note, verify_checkpoint
from tests.audit.conftest import BLIND_KEY, lookup


def _on_a_thread(log: audit.AuditLog) -> tuple[str, int]:
    """The checkpoint and size that ``log.elsewhere()`` gives on a new thread's loop."""
    found: list[tuple[str, int]] = []

    async def read() -> None:
        async with log.elsewhere() as other:
            found.append((await other.checkpoint(keep=False), await other.size()))

    thread = threading.Thread(target=asyncio.run, args=(read(),))
    thread.start()
    thread.join(timeout=30)
    assert found, "the thread did not read the log"
    return found[0]


async def test_the_other_engine_signs_the_same_tree(log: audit.AuditLog) -> None:
    await asyncio.gather(*(log.append(lookup(officer=f"officer-{i}")) for i in range(25)))
    size = await log.size()
    note, seen = await asyncio.to_thread(_on_a_thread, log)
    checkpoint = parse_note(note)[0]
    assert seen == size == checkpoint.size
    assert checkpoint.root_hash == await log.root(size)
    # signed with the log's own key: the very checkpoint the log signs for that tree
    assert verify_checkpoint(note, log.signer.verifier_key()) == checkpoint
    assert await log.checkpoint() == note


async def test_a_log_in_memory_has_no_other_engine(signer: audit.CheckpointSigner) -> None:
    engine = create_async_engine("sqlite+aiosqlite://")
    try:
        log = audit.AuditLog(engine, signer=signer, blind_key=BLIND_KEY)
        with pytest.raises(ValueError, match="in-memory"):
            async with log.elsewhere():
                pass
    finally:
        await engine.dispose()
