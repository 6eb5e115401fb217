"""Fixtures for fault tests: synthetic sources generated once, NIKs to look up."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest

from gateway.demo.seed import prepare_sources
from gateway.platform.settings import Settings

RESIDENTS = 400
SEED = 11


@pytest.fixture(scope="session")
def fault_sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic civil, welfare and health sources (read-only, shared by the session)."""
    data_dir = tmp_path_factory.mktemp("fault-sources")
    prepare_sources(Settings(data_dir=data_dir), residents=RESIDENTS, seed=SEED, force=True)
    return data_dir / "sources"


def adult_niks(sources: Path, city: str = "35.78", n: int = 50) -> list[str]:
    """Adults domiciled in ``city``: lookups the demo social affairs office may make."""
    cutoff = date.today().replace(year=date.today().year - 20).isoformat()
    with sqlite3.connect(f"file:{sources / 'civil.db'}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT nik FROM residents WHERE city_code = ? AND birth_date <= ?"
            " ORDER BY nik LIMIT ?",
            (city, cutoff, n),
        ).fetchall()
    assert rows, "the synthetic sources hold no adults in the city"
    return [str(r[0]) for r in rows]


@pytest.fixture(scope="session")
def lookup_paths(fault_sources: Path) -> list[str]:
    return [f"/v1/residents/{nik}" for nik in adult_niks(fault_sources)]
