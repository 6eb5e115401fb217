"""SQL sources on real PostgreSQL and MariaDB servers, federated with a SQLite one."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from connectors import Federation, SearchQuery, load_sources
from connectors.sql import create_source_engine
from gateway.demo.load import copy_source
from gateway.demo.synthetic import SyntheticSummary


def _sources(tmp_path: Path, summary: SyntheticSummary, civil_url: str, welfare_url: str) -> Path:
    health = summary.sources_file.parent / "health.db"
    path = tmp_path / "sources.yaml"
    path.write_text(
        "sources:\n"
        f"  - {{name: dukcapil, kind: sql, url: '{civil_url}', datasets: [civil_registry],"
        " table: residents, primary: true,"
        " search: {enabled: true, name_key_column: name_key, token_table: name_tokens}}\n"
        f"  - {{name: dtks, kind: sql, url: '{welfare_url}', datasets: [welfare],"
        " table: welfare}\n"
        f"  - {{name: dinkes_survey, kind: sql, url: 'sqlite:///{health}', datasets: [health],"
        " table: health}\n"
    )
    return path


def _expected(summary: SyntheticSummary, niks: list[str]) -> dict[str, tuple[object, ...]]:
    folder = summary.sources_file.parent
    conn = sqlite3.connect(f"file:{folder / 'civil.db'}?mode=ro", uri=True)
    conn.execute(f"ATTACH DATABASE 'file:{folder / 'welfare.db'}?mode=ro' AS w")
    try:
        marks = ",".join("?" for _ in niks)
        return {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT r.nik, r.full_name, r.birth_date, w.welfare_decile, w.pkh_member "
                f"FROM residents r JOIN w.welfare w ON w.nik = r.nik WHERE r.nik IN ({marks})",
                niks,
            )
        }
    finally:
        conn.close()


def _welfare_niks(summary: SyntheticSummary) -> list[str]:
    db = summary.sources_file.parent / "welfare.db"
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute("SELECT nik FROM welfare ORDER BY nik LIMIT 8")]
    finally:
        conn.close()


async def _check_federation(sources: Path, summary: SyntheticSummary) -> None:
    federation = Federation(load_sources(sources))
    niks = _welfare_niks(summary)
    try:
        result = await federation.fetch(
            [*niks, "3578000101010001"],
            ["full_name", "birth_date", "welfare_decile", "pkh_member", "bpjs_class"],
        )
        resident = summary.sample_residents[0]
        found = await federation.search(
            SearchQuery(
                name=str(resident["full_name"]).split(",")[0].title(),
                kelurahan_code=resident["kelurahan_code"],
            ),
            limit=5,
        )
        health = await federation.health()
    finally:
        await federation.aclose()
    expected = _expected(summary, niks)
    assert set(result.records) == set(niks)
    for nik, (name, birth, decile, pkh) in expected.items():
        record = result.records[nik]
        assert record["full_name"] == name
        assert record["birth_date"] == birth  # ISO text whatever the backend
        assert record["welfare_decile"] == decile
        assert record["pkh_member"] is bool(pkh)
        assert result.provenance[nik]["welfare_decile"] == "dtks"
    assert result.unavailable == {}
    assert any(m.nik == resident["nik"] for m in found.matches)
    assert all(health.values())


@pytest.mark.postgres
@pytest.mark.mariadb
@pytest.mark.slow
async def test_civil_on_postgres_welfare_on_mariadb(
    tmp_path: Path, demo_sources: SyntheticSummary, postgres_url: str, mariadb_url: str
) -> None:
    folder = demo_sources.sources_file.parent
    assert copy_source(folder, "civil.db", postgres_url) == demo_sources.count
    copy_source(folder, "welfare.db", mariadb_url)
    await _check_federation(
        _sources(tmp_path, demo_sources, postgres_url, mariadb_url), demo_sources
    )


@pytest.mark.postgres
@pytest.mark.mariadb
@pytest.mark.slow
async def test_civil_on_mariadb_welfare_on_postgres(
    tmp_path: Path, demo_sources: SyntheticSummary, postgres_url: str, mariadb_url: str
) -> None:
    folder = demo_sources.sources_file.parent
    copy_source(folder, "civil.db", mariadb_url)
    copy_source(folder, "welfare.db", postgres_url)
    await _check_federation(
        _sources(tmp_path, demo_sources, mariadb_url, postgres_url), demo_sources
    )


@pytest.mark.postgres
async def test_postgres_sessions_are_read_only(
    demo_sources: SyntheticSummary, postgres_url: str
) -> None:
    copy_source(demo_sources.sources_file.parent, "health.db", postgres_url)
    engine = create_source_engine(postgres_url)
    try:
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError, match="read-only"):
                await conn.execute(sa.text("DELETE FROM health"))
    finally:
        await engine.dispose()


@pytest.mark.mariadb
async def test_mariadb_sessions_are_read_only(
    demo_sources: SyntheticSummary, mariadb_url: str
) -> None:
    copy_source(demo_sources.sources_file.parent, "health.db", mariadb_url)
    engine = create_source_engine(mariadb_url)
    try:
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError, match=r"(?i)read.only"):
                await conn.execute(sa.text("DELETE FROM health"))
    finally:
        await engine.dispose()
