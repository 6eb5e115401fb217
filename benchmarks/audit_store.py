"""What the audit benchmarks share: synthetic lookup events, a scratch store (SQLite or a
PostgreSQL database made and dropped for the run), timed appends, and a whole-log check.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import audit

ORIGIN = "bench.satugate.example/audit"
BLIND_KEY = b"benchmark blind index key 32 b.."
PG_ADMIN = os.environ.get("SATUGATE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def event(i: int) -> dict[str, object]:
    """A typical resident lookup event (synthetic)."""
    return {
        "action": "resident.read",
        "agency": "dinsos",
        "client_id": "dinsos-sikesra",
        "officer": f"officer.{i % 40:02d}",
        "purpose": "social_assistance",
        "legal_basis": "perwali-35-2024",
        "decision": "allow",
        "reason": None,
        "rule_ids": ["dinsos.social_assistance.read"],
        "policy_version": "v3",
        "fields": {"full_name": "clear", "nik": "pseudonymised", "birth_date": "generalised"},
        "result_count": 1,
        "request_id": f"req-{i}",
        "status": 200,
        "specific_data": False,
        "hidden_until": None,
    }


def nik(i: int) -> str:
    return f"3578{(i * 7919) % 10**12:012d}"


# --- stores ----------------------------------------------------------------------------


def pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=2):
            return True
    except Exception:
        return False


@asynccontextmanager
async def scratch_store(kind: str, workdir: Path) -> AsyncIterator[AsyncEngine]:
    """A fresh, empty store with the audit schema: a SQLite file or a PostgreSQL database."""
    if kind == "sqlite":
        path = workdir / f"audit-{uuid.uuid4().hex[:8]}.db"
        engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
        await audit.install_schema(engine)
        try:
            yield engine
        finally:
            await engine.dispose()
        return
    import psycopg

    name = f"satugate_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0]
    engine = create_async_engine(
        f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://", 1), pool_size=10
    )
    try:
        await audit.install_schema(engine)
        yield engine
    finally:
        await engine.dispose()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- appends ---------------------------------------------------------------------------


async def append_for(
    log: audit.AuditLog, *, seconds: float, concurrency: int, first: int = 0
) -> float:
    """Events per second made durable by ``concurrency`` tasks appending to a running
    ``log`` for ``seconds``, with event numbers from ``first`` on."""
    done = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds

    async def worker(w: int) -> None:
        nonlocal done
        i = first + w
        while loop.time() < deadline:
            await log.append(event(i), subject_niks=[nik(i)])
            done += 1
            i += concurrency

    start = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return done / (time.perf_counter() - start)


async def verify_store(kind: str, engine: AsyncEngine, signer: audit.CheckpointSigner) -> int:
    """The store, verified end to end after a run: nothing lost, one tree. Returns the
    tree's size; exits with an error when the export does not verify."""
    log = audit.AuditLog(engine, signer=signer, blind_key=BLIND_KEY)
    size = await log.size()
    lines = [line async for line in _export_after_checkpoint(log, engine)]
    report = audit.verify_export(lines, signer.verifier_key())
    if not report.ok or report.tree_size != size:
        raise SystemExit(f"{kind}: the benchmark's log does not verify: {report.problems}")
    return size


async def _export_after_checkpoint(log: audit.AuditLog, engine: AsyncEngine) -> AsyncIterator[str]:
    await log.checkpoint()
    async for line in audit.export_lines(engine):
        yield line


# --- several writer processes ----------------------------------------------------------
