"""Grouped counts pushed down to the source: the same answer on SQLite, PostgreSQL and
MariaDB as counting the rows by hand, in statements that group in the database; the
largest household of a cell exact wherever it holds more than half of it."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.aggregate import BIG_HOUSEHOLD, CountPlan, CountQuery, CountRow, count_rows
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
    # A household of more than BIG_HOUSEHOLD members in one cell, and a small household
    # holding most of a small cell: both dominate, one by size and one by share.
    for j in range(BIG_HOUSEHOLD + 4):
        born = f"19{62 + j % 5}-05-1{j % 9}"  # five birth years, one band
        out.append(
            {
                "nik": f"9{j:015d}",
                "kk": "kk-big",
                "kec": "35.78.01",
                "sex": "PEREMPUAN",
                "born": born,
            }
        )
    for j in range(4):  # triplets in a cell of their own, and one resident of 136
        kk = "kk-triplets" if j < 3 else "kk-alone"
        out.append(
            {
                "nik": f"8{j:015d}",
                "kk": kk,
                "kec": "35.78.02",
                "sex": "LAKI-LAKI",
                "born": "1984-02-02" if j < 3 else "1890-01-01",
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
    plan = CountPlan("people", COLUMNS, "kk", query)
    assert "GROUP BY" in str(plan.counts())
    result = await _count(url, plan)
    got = {r.key: r.count for r in result}
    expected = Counter(
        (r["kec"], r["sex"], _band(2026, r["born"]))
        for r in rows
        if r["kec"] in ("35.78.01", "35.78.02")
    )
    assert got == dict(expected)
    largest = {r.key: r.largest_household for r in result}
    per_household = Counter(
        ((r["kec"], r["sex"], _band(2026, r["born"])), r["kk"])
        for r in rows
        if r["kec"] in ("35.78.01", "35.78.02")
    )
    dominated = 0
    for key in got:
        top = max(n for (k, _), n in per_household.items() if k == key)
        # Exact where one household holds more than half of the cell, else 0.
        assert largest[key] == (top if 2 * top > got[key] else 0), key
        dominated += 2 * top > got[key]
    assert largest[("35.78.01", "PEREMPUAN", "60-64")] > BIG_HOUSEHOLD
    assert largest[("35.78.02", "LAKI-LAKI", "40-44")] == 3
    assert dominated >= 2


async def _count(url: str, plan: CountPlan) -> list[CountRow]:
    engine = create_source_engine(url)

    async def run(stmt: sa.Select[Any]) -> Sequence[sa.Row[Any]]:
        async with engine.connect() as conn:
            rows: Sequence[sa.Row[Any]] = (await conn.execute(stmt)).all()
            return rows

    try:
        return await count_rows(plan, run)
    finally:
        await engine.dispose()


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
    plan = CountPlan("people", COLUMNS, "kk", CountQuery(("kecamatan_code",), {}, unit, 2026))
    got = {r.key: r.count for r in await _count(f"sqlite:///{path}", plan)}
    expected = Counter(k for k, _ in {(r["kec"], r["kk"]) for r in rows})
    assert got == {(k,): n for k, n in expected.items()}
