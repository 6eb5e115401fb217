"""Key management: wrapped at rest, versions that rotate and retire, a cache that never
brings a retired version back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.platform import keys as keymod
from gateway.platform import store
from gateway.platform.services import install_schema


@pytest.fixture
async def ring(tmp_path: Path):  # type: ignore[no-untyped-def]
    keymod.create_master_key_file(tmp_path / "master.key")
    engine = store.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}")
    await install_schema(engine)
    yield keymod.KeyRing(engine, keymod.load_master_key(tmp_path / "master.key"), ttl=0.0)
    await engine.dispose()


async def test_keys_are_stored_only_wrapped(ring: keymod.KeyRing) -> None:
    material = (await ring.current(keymod.PSEUDONYM, "dinsos")).reveal()
    assert len(material) == 64
    async with ring._engine.connect() as conn:
        stored = (await conn.execute(store.keys.select())).all()
    assert stored and all(material not in row.wrapped for row in stored)
    assert "***" in repr(await ring.current(keymod.PSEUDONYM, "dinsos"))


async def test_rotation_adds_a_version_and_retirement_removes_one(ring: keymod.KeyRing) -> None:
    await ring.versions(keymod.PSEUDONYM, "dinsos")
    assert await ring.rotate(keymod.PSEUDONYM, "dinsos") == 2
    with pytest.raises(keymod.KeyError_):
        await ring.retire(keymod.PSEUDONYM, "dinsos", 2)  # the current one
    await ring.retire(keymod.PSEUDONYM, "dinsos", 1)
    versions = await ring.versions(keymod.PSEUDONYM, "dinsos")
    assert set(versions.keys) == {2} and versions.current == 2


class _SlowStoreReads(keymod.KeyRing):
    """A key ring whose store reads finish only when the test says so: it makes the
    interleaving below happen every time instead of by chance."""

    gate: asyncio.Event | None = None
    waiting = 0

    def _loads_waiting(self) -> bool:
        return self.waiting > 0

    async def _load(self, purpose: str, domain: str) -> keymod._Versions | None:
        loaded = await super()._load(purpose, domain)
        gate = self.gate
        if gate is not None:
            self.waiting += 1
            await gate.wait()
            self.waiting -= 1
        return loaded


async def test_retired_key_stays_retired_when_a_reload_was_in_flight(tmp_path: Path) -> None:
    keymod.create_master_key_file(tmp_path / "master.key")
    engine = store.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}")
    await install_schema(engine)
    ring = _SlowStoreReads(engine, keymod.load_master_key(tmp_path / "master.key"), ttl=3600)
    try:
        await ring.versions(keymod.PSEUDONYM, "dinsos")
        await ring.rotate(keymod.PSEUDONYM, "dinsos")
        await ring.versions(keymod.PSEUDONYM, "dinsos")
        # A reload reads versions 1 and 2 from the store, then is held back ...
        ring.gate = asyncio.Event()
        stale = asyncio.get_running_loop().create_task(ring.refresh(keymod.PSEUDONYM, "dinsos"))
        for _ in range(200):
            await asyncio.sleep(0.005)
            if ring._loads_waiting():
                break
        gate, ring.gate = ring.gate, None
        # ... while version 1 is retired; then the old read completes.
        await ring.retire(keymod.PSEUDONYM, "dinsos", 1)
        gate.set()
        await stale
        versions = await ring.versions(keymod.PSEUDONYM, "dinsos")
        assert set(versions.keys) == {2}, "a reload begun before the retirement brought it back"
    finally:
        await engine.dispose()


async def test_reload_cached_reads_again_what_another_process_rotated(tmp_path: Path) -> None:
    """The lifespan's refresh (``reload_cached``) picks up a version another process
    rotated in; the hot path itself only reads the cache."""
    keymod.create_master_key_file(tmp_path / "master.key")
    engine = store.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}")
    await install_schema(engine)
    master = keymod.load_master_key(tmp_path / "master.key")
    ring, other = keymod.KeyRing(engine, master, ttl=3600), keymod.KeyRing(engine, master)
    try:
        assert (await ring.versions(keymod.PSEUDONYM, "dinsos")).current == 1
        await other.rotate(keymod.PSEUDONYM, "dinsos")
        assert (await ring.versions(keymod.PSEUDONYM, "dinsos")).current == 1  # cached
        await ring.reload_cached()
        assert (await ring.versions(keymod.PSEUDONYM, "dinsos")).current == 2
    finally:
        await engine.dispose()
