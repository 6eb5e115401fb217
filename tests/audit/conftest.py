"""Fixtures of the audit tests: a real SQLite file or a real PostgreSQL database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import audit

ORIGIN = "satugate.test/audit"
BLIND_KEY = b"test blind index key, 32 bytes!!"


def asyncpg_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same tests on both stores the gateway supports."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}"
    return asyncpg_url(request.getfixturevalue("postgres_url"))


@pytest.fixture
def make_engine(database_url: str) -> Callable[[], AsyncEngine]:
    return lambda: create_async_engine(database_url)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_async_engine(database_url)
    await audit.install_schema(eng)
    yield eng
    await eng.dispose()


@pytest.fixture(scope="session")
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def signer(signing_key: Ed25519PrivateKey) -> audit.CheckpointSigner:
    return audit.CheckpointSigner(ORIGIN, signing_key)


@pytest.fixture
async def log(engine: AsyncEngine, signer: audit.CheckpointSigner) -> AsyncIterator[audit.AuditLog]:
    audit_log = audit.AuditLog(engine, signer=signer, blind_key=BLIND_KEY, checkpoint_interval=0.2)
    await audit_log.start()
    yield audit_log
    await audit_log.stop()


def lookup(
    officer: str = "officer-1", agency: str = "dinsos", **extra: object
) -> dict[str, object]:
    """A resident lookup event as the gateway records it (synthetic values)."""
    event: dict[str, object] = {
        "action": "resident.read",
        "agency": agency,
        "client_id": f"{agency}-app",
        "officer": officer,
        "purpose": "social_assistance",
        "legal_basis": "perwali-35-2024",
        "decision": "allow",
        "reason": None,
        "rule_ids": ["dinsos.social_assistance.read"],
        "policy_version": "v1",
        "fields": {"full_name": "clear", "nik": "pseudonymised"},
        "result_count": 1,
        "request_id": "req-1",
        "status": 200,
        "specific_data": False,
        "hidden_until": None,
    }
    event.update(extra)
    return event
