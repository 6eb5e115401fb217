"""Grouped counts pushed down to the source: the same answer on SQLite, PostgreSQL and
MariaDB as counting the rows by hand, in one statement that groups in the database."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.aggregate import CountQuery, count_statement, rows_of
from connectors.sql import create_source_engine

COLUMNS = {"kecamatan_code": "kec", "sex": "sex", "birth_date": "born", "kk_number": "kk"}


def _rows(seed: int = 5) -> list[dict[str, str]]:
    rng = random.Random(seed)
    out = []
    for i in range(400):
        out.append(
            {
                "nik": f"{i:016d}",
                "kk": f"kk{i // 4}",
                "kec": rng.choice(["35.78.01", "35.78.02", "35.78.03"]),
                "sex": rng.choice(["LAKI-LAKI", "PEREMPUAN"]),
                "born": f"{rng.randint(1930, 2025)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
            }
        )
    return out


def _band(year: int, born: str) -> str:
    age = year - int(born[:4])
    i = min(age // 5, 17)
    return "85+" if i == 17 else f"{i * 5}-{i * 5 + 4}"


def _load(sync_url: str, rows: list[dict[str, str]]) -> None:
    engine = sa.create_engine(sync_url)
    meta = sa.MetaData()
    table = sa.Table(
        "people",
        meta,
        sa.Column("nik", sa.String(16), primary_key=True),
        *(sa.Column(c, sa.String(32)) for c in ("kk", "kec", "sex", "born")),
    )
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), rows)
    engine.dispose()


async def _check(url: str) -> None:
    rows = _rows()
    query = CountQuery(
        ("kecamatan_code", "sex", "age_band"),
        {"kecamatan_code": ("35.78.01", "35.78.02")},
        "residents",
        2026,
    )
    stmt = count_statement("people", COLUMNS, "kk", query)
    assert "GROUP BY" in str(stmt)
    engine = create_source_engine(url)
    try:
        async with engine.connect() as conn:
            result = (await conn.execute(stmt)).all()
    finally:
        await engine.dispose()
    got = {r.key: r.count for r in rows_of(result, 3)}
    expected = Counter(
        (r["kec"], r["sex"], _band(2026, r["born"]))
        for r in rows
        if r["kec"] in ("35.78.01", "35.78.02")
    )
    assert got == dict(expected)
    largest = {r.key: r.largest_household for r in rows_of(result, 3)}
    per_household = Counter(
        ((r["kec"], r["sex"], _band(2026, r["born"])), r["kk"])
        for r in rows
        if r["kec"] in ("35.78.01", "35.78.02")
    )
    for key in got:
        assert largest[key] == max(n for (k, _), n in per_household.items() if k == key)


async def test_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "people.db"
    _load(f"sqlite:///{path}", _rows())
    await _check(f"sqlite:///{path}")


async def test_postgresql(postgres_url: str) -> None:
    _load(postgres_url.replace("postgresql://", "postgresql+psycopg://"), _rows())
    await _check(postgres_url)


async def test_mariadb(mariadb_url: str) -> None:
    _load(mariadb_url.replace("mysql://", "mysql+pymysql://"), _rows())
    await _check(mariadb_url)


@pytest.mark.parametrize("unit", ["households"])
async def test_households_are_counted_once(tmp_path: Path, unit: str) -> None:
    path = tmp_path / "people.db"
    rows = _rows()
    _load(f"sqlite:///{path}", rows)
    stmt = count_statement("people", COLUMNS, "kk", CountQuery(("kecamatan_code",), {}, unit, 2026))
    engine = create_source_engine(f"sqlite:///{path}")
    try:
        async with engine.connect() as conn:
            got = {r.key: r.count for r in rows_of((await conn.execute(stmt)).all(), 1)}
    finally:
        await engine.dispose()
    expected = Counter(k for k, _ in {(r["kec"], r["kk"]) for r in rows})
    assert got == {(k,): n for k, n in expected.items()}
